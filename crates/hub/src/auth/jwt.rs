//! OpenID Connect / JWT bearer tokens (RFC 7519): signed by the issuer's keys (a JWKS, RFC 7517,
//! from a file or an `https://` URL), checked for `iss` (`jwt-issuer`), `aud` (`jwt-audience`),
//! `exp` (60 s leeway for clock skew) and a `sub`. The actor is `sub`; the role and the tenant
//! come from the claims `jwt-role-claim` and `jwt-tenant-claim`.
//!
//! Accepted algorithms: RS256/384/512 (RSA keys), ES256 (P-256), ES384 (P-384), EdDSA
//! (Ed25519). The key is chosen by the token's `kid` (or is the only key of the set); the
//! token's `alg` must suit the key, and be the key's `alg` when the JWKS gives one. Keys embedded in the token (`jwk`, `jku`) are never used. An unknown `kid` makes
//! the hub fetch a URL JWKS again (at most every [`MIN_REFETCH`]), so a rotated issuer key is
//! accepted within seconds.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::error::AuthError;
use super::principal::{AuthMethod, Principal, Role};
use crate::config::HubConfig;

/// Least time between two fetches of a URL JWKS triggered by unknown `kid`s.
pub const MIN_REFETCH: Duration = Duration::from_secs(30);
/// Time limit of one JWKS fetch.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest JWKS accepted (bytes).
const MAX_JWKS_BYTES: usize = 1 << 20;
/// Clock skew tolerated on `exp` and `nbf`, in seconds.
const LEEWAY_SECONDS: u64 = 60;

/// Where the signing keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JwksSource {
    /// A JWKS file, re-read when it changes.
    File(PathBuf),
    /// An `https://` URL (`http://` only on loopback hosts, for tests and local issuers).
    Url(reqwest::Url),
}

impl JwksSource {
    /// Parses `jwt-jwks`: a URL when it has a scheme, else a file path.
    pub fn parse(text: &str) -> Result<Self, AuthError> {
        if !text.contains("://") {
            return Ok(Self::File(PathBuf::from(text)));
        }
        let invalid = |reason: String| AuthError::Config { key: "jwt-jwks", reason };
        let url = reqwest::Url::parse(text).map_err(|error| invalid(format!("{text} is no URL: {error}")))?;
        let host = url.host_str().unwrap_or("").trim_start_matches('[').trim_end_matches(']');
        let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        match url.scheme() {
            "https" => Ok(Self::Url(url)),
            "http" if loopback => Ok(Self::Url(url)),
            _ => Err(invalid(format!(
                "{text}: fetch the keys over https:// (a plaintext JWKS lets a network attacker sign tokens), \
                 or give a file path"
            ))),
        }
    }
}

impl std::fmt::Display for JwksSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Url(url) => write!(f, "{url}"),
        }
    }
}

/// One usable verification key.
struct VerifyKey {
    kid: Option<String>,
    /// The algorithms it verifies.
    algorithms: &'static [Algorithm],
    key: DecodingKey,
}

/// Algorithms of RSA keys.
const RSA_ALGORITHMS: &[Algorithm] = &[Algorithm::RS256, Algorithm::RS384, Algorithm::RS512];
/// Every accepted algorithm.
const ACCEPTED: &[Algorithm] =
    &[Algorithm::RS256, Algorithm::RS384, Algorithm::RS512, Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA];

/// The usable keys of a JWKS.
pub(crate) struct KeySet {
    keys: Vec<VerifyKey>,
}

impl KeySet {
    /// Parses a JWKS document. Keys the hub cannot use (encryption keys, other algorithms or
    /// curves, malformed entries) are skipped with a warning.
    ///
    /// Errors: not a JWKS, or no usable key in it.
    pub fn parse(json: &[u8]) -> Result<Self, String> {
        let document: Value = serde_json::from_slice(json).map_err(|error| format!("not JSON: {error}"))?;
        let Some(entries) = document.get("keys").and_then(Value::as_array) else {
            return Err("not a JWKS: no \"keys\" array".to_owned());
        };
        let mut keys = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            match usable_key(entry) {
                Ok(key) => keys.push(key),
                Err(reason) => tracing::warn!(index, %reason, "skipping a JWKS key"),
            }
        }
        if keys.is_empty() {
            return Err(format!(
                "none of its {} keys is an RSA, EC P-256 or P-384, or OKP Ed25519 signing key",
                entries.len()
            ));
        }
        Ok(Self { keys })
    }

    /// Returns the key of `kid`, or the only key when the token names none.
    fn find(&self, kid: Option<&str>) -> Option<&VerifyKey> {
        match kid {
            Some(kid) => self.keys.iter().find(|key| key.kid.as_deref() == Some(kid)),
            None if self.keys.len() == 1 => self.keys.first(),
            None => None,
        }
    }
}

/// Returns the verification key of one JWKS entry, or why it cannot be used.
fn usable_key(entry: &Value) -> Result<VerifyKey, String> {
    let jwk: Jwk = serde_json::from_value(entry.clone()).map_err(|error| format!("not a JWK: {error}"))?;
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return Err("an encryption key (use: enc)".to_owned());
    }
    let suited: &'static [Algorithm] = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => RSA_ALGORITHMS,
        AlgorithmParameters::EllipticCurve(params) if params.curve == EllipticCurve::P256 => &[Algorithm::ES256],
        AlgorithmParameters::EllipticCurve(params) if params.curve == EllipticCurve::P384 => &[Algorithm::ES384],
        AlgorithmParameters::OctetKeyPair(params) if params.curve == EllipticCurve::Ed25519 => &[Algorithm::EdDSA],
        _ => return Err("neither RSA, EC P-256 or P-384, nor OKP Ed25519".to_owned()),
    };
    let algorithms = match jwk.common.key_algorithm {
        None => suited,
        Some(declared) => {
            let declared_algorithm = match declared {
                KeyAlgorithm::RS256 => Some(Algorithm::RS256),
                KeyAlgorithm::RS384 => Some(Algorithm::RS384),
                KeyAlgorithm::RS512 => Some(Algorithm::RS512),
                KeyAlgorithm::ES256 => Some(Algorithm::ES256),
                KeyAlgorithm::ES384 => Some(Algorithm::ES384),
                KeyAlgorithm::EdDSA => Some(Algorithm::EdDSA),
                _ => None,
            };
            match suited.iter().position(|algorithm| Some(*algorithm) == declared_algorithm) {
                Some(index) => &suited[index..=index],
                None => return Err(format!("its alg {declared:?} is not accepted for this key type")),
            }
        }
    };
    let key = DecodingKey::from_jwk(&jwk).map_err(|error| format!("unusable key material: {error}"))?;
    Ok(VerifyKey { kid: jwk.common.key_id, algorithms, key })
}

/// Verifies JWTs of one issuer.
pub(crate) struct JwtVerifier {
    issuer: String,
    audience: String,
    role_claim: String,
    tenant_claim: String,
    source: JwksSource,
    keys: RwLock<Arc<KeySet>>,
    client: Option<reqwest::Client>,
    /// When the URL JWKS was last fetched (throttles refetches on unknown `kid`s).
    last_fetch: Mutex<Instant>,
    /// Least time between refetches ([`MIN_REFETCH`]).
    refetch_after: Duration,
}

impl JwtVerifier {
    /// Returns the verifier `config` describes (`jwt-issuer`, `jwt-audience`, `jwt-jwks`,
    /// claims), with its keys read or fetched; `None` without `jwt-issuer`.
    ///
    /// Errors: an incomplete JWT setting, an unreadable or unusable JWKS.
    pub async fn from_config(config: &HubConfig) -> Result<Option<Self>, AuthError> {
        let Some(issuer) = config.jwt_issuer.clone() else { return Ok(None) };
        let missing = |key: &'static str| AuthError::Config {
            key,
            reason: "JWT verification needs jwt-issuer, jwt-audience and jwt-jwks".to_owned(),
        };
        let audience = config.jwt_audience.clone().ok_or_else(|| missing("jwt-audience"))?;
        let source = JwksSource::parse(config.jwt_jwks.as_deref().ok_or_else(|| missing("jwt-jwks"))?)?;
        let client = match source {
            JwksSource::Url(_) => Some(http_client()?),
            JwksSource::File(_) => None,
        };
        let keys = load_keys(&source, client.as_ref()).await?;
        Ok(Some(Self {
            issuer,
            audience,
            role_claim: config.jwt_role_claim.clone(),
            tenant_claim: config.jwt_tenant_claim.clone(),
            source,
            keys: RwLock::new(Arc::new(keys)),
            client,
            last_fetch: Mutex::new(Instant::now()),
            refetch_after: MIN_REFETCH,
        }))
    }

    /// Returns the JWKS source.
    pub fn source(&self) -> &JwksSource {
        &self.source
    }

    /// Replaces the keys.
    pub fn set_keys(&self, keys: KeySet) {
        if let Ok(mut current) = self.keys.write() {
            *current = Arc::new(keys);
        }
    }

    /// Reads or fetches the keys again.
    ///
    /// Errors: as at start; the previous keys stay in use.
    pub async fn reload(&self) -> Result<(), AuthError> {
        let keys = load_keys(&self.source, self.client.as_ref()).await?;
        self.set_keys(keys);
        Ok(())
    }

    /// Verifies `token` and returns its principal.
    ///
    /// Errors: why the token is refused (expired, wrong audience or issuer, unknown key, bad
    /// signature, a missing or invalid claim), for an UNAUTHENTICATED status.
    pub fn verify(self: &Arc<Self>, token: &str) -> Result<Principal, String> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|error| format!("the bearer token is neither a known token nor a valid JWT ({error})"))?;
        if !ACCEPTED.contains(&header.alg) {
            return Err(format!("the JWT's alg {:?} is not accepted (RS256/384/512, ES256/384, EdDSA)", header.alg));
        }
        let keys = self.keys.read().map(|keys| Arc::clone(&keys)).map_err(|_| "the JWT keys are unavailable")?;
        let kid = header.kid.as_deref();
        let Some(key) = keys.find(kid) else {
            self.refetch_soon();
            return Err(match kid {
                Some(kid) => format!("the JWT's key {kid:?} (kid) is not among the keys of {}", self.source),
                None => format!("the JWT names no key (kid) and {} has several", self.source),
            });
        };
        if !key.algorithms.contains(&header.alg) {
            return Err(format!("the JWT is signed with {:?} but its key is for {:?}", header.alg, key.algorithms));
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation)
            .map_err(|error| self.rejection(error.kind()))?;
        self.principal(&data.claims)
    }

    /// Returns the reason of a failed validation.
    fn rejection(&self, kind: &ErrorKind) -> String {
        match kind {
            ErrorKind::ExpiredSignature => "the JWT has expired (exp)".to_owned(),
            ErrorKind::ImmatureSignature => "the JWT is not valid yet (nbf)".to_owned(),
            ErrorKind::InvalidIssuer => format!("the JWT's issuer (iss) is not {}", self.issuer),
            ErrorKind::InvalidAudience => format!("the JWT's audience (aud) does not include {}", self.audience),
            ErrorKind::InvalidSignature => "the JWT's signature does not verify".to_owned(),
            ErrorKind::MissingRequiredClaim(claim) => format!("the JWT has no {claim} claim"),
            other => format!("the JWT is invalid: {other:?}"),
        }
    }

    /// Returns the principal of verified `claims`.
    fn principal(&self, claims: &Map<String, Value>) -> Result<Principal, String> {
        let actor = match claims.get("sub").and_then(Value::as_str) {
            Some(sub) if !sub.is_empty() => sub.to_owned(),
            _ => return Err("the JWT's sub claim is not a non-empty string".to_owned()),
        };
        let role_claim = &self.role_claim;
        let role = match claim(claims, role_claim) {
            Some(Value::String(name)) => Role::parse(name),
            // Several roles (e.g. groups): the most powerful one counts.
            Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).filter_map(Role::parse).min(),
            _ => return Err(format!("the JWT has no {role_claim} claim (hub.jwt-role-claim)")),
        }
        .ok_or_else(|| format!("the JWT's {role_claim} claim names no role (admin, operator, client, viewer)"))?;
        let tenant_claim = &self.tenant_claim;
        let tenant = match claim(claims, tenant_claim) {
            Some(Value::String(tenant)) if !tenant.is_empty() => Some(tenant.clone()),
            None | Some(Value::Null) if role == Role::Admin => None,
            Some(_) => return Err(format!("the JWT's {tenant_claim} claim is not a tenant name")),
            None => {
                return Err(format!(
                    "the JWT has no {tenant_claim} claim (hub.jwt-tenant-claim): a {role} acts in one tenant"
                ));
            }
        };
        Ok(Principal { actor, role, tenant, method: AuthMethod::Jwt })
    }

    /// Fetches a URL JWKS again in the background, unless it was fetched within
    /// [`MIN_REFETCH`].
    fn refetch_soon(self: &Arc<Self>) {
        if !matches!(self.source, JwksSource::Url(_)) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        {
            let Ok(mut last) = self.last_fetch.try_lock() else { return };
            if last.elapsed() < self.refetch_after {
                return;
            }
            *last = Instant::now();
        }
        let verifier = Arc::clone(self);
        runtime.spawn(async move {
            match verifier.reload().await {
                Ok(()) => tracing::info!(jwks = %verifier.source, "JWT keys fetched again for an unknown kid"),
                Err(error) => tracing::warn!(%error, "fetching the JWT keys again failed; the previous keys stay"),
            }
        });
    }
}

/// Returns the claim `name` of `claims`: the key itself, else a dotted path into nested
/// objects (`realm_access.role`).
fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    let mut parts = name.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.get(part)?;
    }
    Some(value)
}

/// Returns the client fetching URL JWKS (the process's ring provider; system roots).
fn http_client() -> Result<reqwest::Client, AuthError> {
    agentry_tls::install_default_provider();
    reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .build()
        .map_err(|error| AuthError::Config { key: "jwt-jwks", reason: format!("building the HTTPS client: {error}") })
}

/// Reads or fetches the keys of `source`.
async fn load_keys(source: &JwksSource, client: Option<&reqwest::Client>) -> Result<KeySet, AuthError> {
    let failed = |reason: String| AuthError::Jwks { jwks: source.to_string(), reason };
    let json = match (source, client) {
        (JwksSource::File(path), _) => tokio::fs::read(path).await.map_err(|error| failed(error.to_string()))?,
        (JwksSource::Url(url), Some(client)) => fetch(client, url).await.map_err(failed)?,
        (JwksSource::Url(_), None) => return Err(failed("no HTTPS client".to_owned())),
    };
    KeySet::parse(&json).map_err(failed)
}

/// Fetches `url` (at most [`MAX_JWKS_BYTES`]).
async fn fetch(client: &reqwest::Client, url: &reqwest::Url) -> Result<Vec<u8>, String> {
    let response = client.get(url.clone()).send().await.map_err(|error| format!("fetching: {error}"))?;
    let response = response.error_for_status().map_err(|error| format!("fetching: {error}"))?;
    if response.content_length().is_some_and(|length| length > MAX_JWKS_BYTES as u64) {
        return Err(format!("larger than {MAX_JWKS_BYTES} bytes"));
    }
    let body = response.bytes().await.map_err(|error| format!("reading the body: {error}"))?;
    if body.len() > MAX_JWKS_BYTES {
        return Err(format!("larger than {MAX_JWKS_BYTES} bytes"));
    }
    Ok(body.to_vec())
}

#[cfg(test)]
#[path = "jwt_tests.rs"]
mod tests;
