//! Fuzz target `hub_requests` (see fuzz/README.md), credentials: the `authorization` metadata of
//! every call (`Authenticator::authenticate`: static tokens of the auth file, JWTs — signed with
//! the hub's key, forged, altered, malformed) and the files the authenticator loads at start
//! (`Authenticator::from_config`: the auth file, the JWKS), fed the corpus
//! `fuzz/corpus/hub_requests/{authorization,auth_file,jwks}/`, its mutations and generated
//! tokens. Never a panic; a refusal is UNAUTHENTICATED; and no forged or altered JWT, and no
//! token outside the auth file, is ever accepted.

#[path = "../../../fuzz/support/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use proptest::prelude::*;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use tonic::Code;

use agent_hub::HubConfig;
use agent_hub::auth::Authenticator;

use harness::{Found, fail, text};

const TARGET: &str = "hub_requests";
const ISSUER: &str = "https://issuer.example";
const AUDIENCE: &str = "agentry";
/// The kid of the hub's key.
const KID: &str = "fuzz";
/// The auth file of the hub (its tokens: `token-admin`, `token-ops`, `token-ci`, `token-viewer`).
const AUTH_FILE: &str = "ok-tokens-and-tenants.toml";
/// The secrets of [`AUTH_FILE`].
const SECRETS: &[&str] = &["token-admin", "token-ops", "token-ci", "token-viewer"];

/// Returns the unpadded base64url of `bytes` (RFC 4648 §5), as JWTs and JWKs write them.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut text = String::new();
    for chunk in bytes.chunks(3) {
        let bits = chunk.iter().enumerate().fold(0u32, |bits, (at, byte)| bits | u32::from(*byte) << (16 - 8 * at));
        for index in 0..=chunk.len() {
            text.push(char::from(ALPHABET[(bits >> (18 - 6 * index) & 63) as usize]));
        }
    }
    text
}

/// The hub's signing key (ECDSA P-256, made per run) and the files of its configuration.
struct Hub {
    runtime: Runtime,
    dir: tempfile::TempDir,
    config: HubConfig,
    auth: Authenticator,
    key: EncodingKey,
}

impl Hub {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("an ECDSA key");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).expect("the pair");
        let point = pair.public_key().as_ref(); // 0x04 || x || y
        let jwks = json!({ "keys": [{ "kty": "EC", "crv": "P-256", "kid": KID, "use": "sig",
            "x": base64url(&point[1..33]), "y": base64url(&point[33..]) }] });
        let dir = tempfile::tempdir().expect("a temporary directory");
        let auth_file = harness::corpus_dir(TARGET, "auth_file").join(AUTH_FILE);
        std::fs::copy(&auth_file, dir.path().join("auth.toml")).expect("copying the auth file");
        std::fs::write(dir.path().join("jwks.json"), jwks.to_string()).expect("writing the JWKS");
        let config = HubConfig {
            auth_file: Some(dir.path().join("auth.toml")),
            jwt_issuer: Some(ISSUER.to_owned()),
            jwt_audience: Some(AUDIENCE.to_owned()),
            jwt_jwks: Some(dir.path().join("jwks.json").to_string_lossy().into_owned()),
            ..HubConfig::for_test("sqlite::memory:")
        };
        let auth = runtime.block_on(Authenticator::from_config(&config)).expect("the authenticator");
        Self { runtime, dir, config, auth, key: EncodingKey::from_ec_der(pkcs8.as_ref()) }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Builds an authenticator from `config`, in the runtime.
    fn load(&self, config: &HubConfig) -> Result<Authenticator, String> {
        self.runtime.block_on(Authenticator::from_config(config)).map_err(|error| error.to_string())
    }
}

/// Authenticates `header`: a principal, or why not. A refusal must be UNAUTHENTICATED.
fn authenticate(auth: &Authenticator, header: &str) -> Result<Option<String>, TestCaseError> {
    match auth.authenticate(Some(header)) {
        Ok(principal) => Ok(Some(principal.actor)),
        Err(status) if status.code() == Code::Unauthenticated => Ok(None),
        Err(status) => {
            Err(fail(format!("refused with {:?}, not UNAUTHENTICATED: {}", status.code(), status.message())))
        }
    }
}

/// Every corpus file: headers authenticate or are refused as named; auth files and JWKS load
/// or are refused as named.
#[test]
fn corpus_replays() {
    let hub = Hub::start();
    for seed in harness::corpus(TARGET, "authorization") {
        let header = seed.text();
        let outcome = authenticate(&hub.auth, header.trim_end_matches('\n'));
        let accepted = matches!(outcome, Ok(Some(_)));
        seed.check(accepted, &outcome);
    }
    for seed in harness::corpus(TARGET, "auth_file") {
        std::fs::write(hub.path("replay.toml"), &seed.bytes).expect("writing the auth file");
        let config = HubConfig { auth_file: Some(hub.path("replay.toml")), ..hub.config.clone() };
        let outcome = hub.load(&config).map(drop);
        seed.check(outcome.is_ok(), &outcome);
    }
    for seed in harness::corpus(TARGET, "jwks") {
        std::fs::write(hub.path("replay.json"), &seed.bytes).expect("writing the JWKS");
        let config = HubConfig { jwt_jwks: Some(path_text(&hub.path("replay.json"))), ..hub.config.clone() };
        let outcome = hub.load(&config).map(drop);
        seed.check(outcome.is_ok(), &outcome);
    }
}

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// How a generated JWT is signed.
#[derive(Debug, Clone, Copy)]
enum Signing {
    /// By the hub's key, as a real issuer would.
    Genuine,
    /// Signed, then one character of its claims changed.
    Altered(usize),
    /// Random bytes as the signature.
    Forged,
    /// No signature.
    Unsigned,
}

/// A JWT to generate: its header and claims, and how it is signed.
#[derive(Debug, Clone)]
struct Jwt {
    alg: String,
    kid: Option<String>,
    claims: Value,
    signing: Signing,
    forged_signature: Vec<u8>,
}

impl Jwt {
    /// Returns the token, and whether it carries the hub's genuine signature over its content.
    fn token(&self, key: &EncodingKey) -> (String, bool) {
        let raw_header = json!({ "alg": self.alg, "kid": self.kid, "typ": "JWT" });
        let unsigned = format!(
            "{}.{}",
            base64url(raw_header.to_string().as_bytes()),
            base64url(self.claims.to_string().as_bytes())
        );
        let genuine = || {
            let mut header = Header::new(Algorithm::ES256);
            header.kid = self.kid.clone();
            jsonwebtoken::encode(&header, &self.claims, key).ok()
        };
        match self.signing {
            Signing::Genuine if self.alg == "ES256" => match genuine() {
                Some(token) => (token, true),
                None => (format!("{unsigned}."), false),
            },
            Signing::Altered(at) if self.alg == "ES256" => match genuine() {
                Some(token) => {
                    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
                    let claims = &mut parts[1];
                    let at = at % claims.len().max(1);
                    let replaced = if claims.as_bytes().get(at) == Some(&b'A') { "B" } else { "A" };
                    claims.replace_range(at..=at, replaced);
                    (parts.join("."), false)
                }
                None => (format!("{unsigned}."), false),
            },
            Signing::Unsigned => (format!("{unsigned}."), false),
            _ => (format!("{unsigned}.{}", base64url(&self.forged_signature)), false),
        }
    }
}

/// Claims: mostly those of a valid token, each sometimes absent or wrong.
fn claims() -> BoxedStrategy<Value> {
    let now = agentry_core::clock::now_ms() / 1000;
    let claim = |good: Value, bad: Vec<Value>| prop_oneof![8 => Just(Some(good)), 1 => Just(None), 2 => prop::sample::select(bad).prop_map(Some)];
    (
        claim(json!(ISSUER), vec![json!("https://evil.example"), json!(7), json!("")]),
        claim(json!(AUDIENCE), vec![json!([AUDIENCE, "other"]), json!(["other"]), json!(null), json!("agentry ")]),
        claim(
            json!(now + 3600),
            vec![json!(now - 3600), json!(i64::MAX), json!(u64::MAX), json!(-1), json!("soon"), json!(1e300)],
        ),
        prop::option::weighted(0.2, prop::sample::select(vec![json!(now - 60), json!(now + 3600), json!("x")])),
        claim(json!("ci"), vec![json!(""), json!(7), json!(["a"])]),
        claim(json!("client"), vec![json!("admin"), json!(["viewer", "admin"]), json!("root"), json!(1), json!(null)]),
        claim(json!("acme"), vec![json!(""), json!(null), json!(3), json!({ "a": 1 })]),
    )
        .prop_map(|(iss, aud, exp, nbf, sub, role, tenant)| {
            let mut claims = serde_json::Map::new();
            for (name, value) in [
                ("iss", iss),
                ("aud", aud),
                ("exp", exp),
                ("nbf", nbf),
                ("sub", sub),
                ("agentry_role", role),
                ("agentry_tenant", tenant),
            ] {
                if let Some(value) = value {
                    claims.insert(name.to_owned(), value);
                }
            }
            Value::Object(claims)
        })
        .boxed()
}

fn jwt() -> BoxedStrategy<Jwt> {
    let signing = prop_oneof![
        4 => Just(Signing::Genuine),
        2 => any::<usize>().prop_map(Signing::Altered),
        2 => Just(Signing::Forged),
        1 => Just(Signing::Unsigned),
    ];
    (
        prop_oneof![6 => Just("ES256".to_owned()), 1 => text(&["none", "HS256", "RS256", "EdDSA", "es256"], &[])],
        prop_oneof![4 => Just(Some(KID.to_owned())), 1 => Just(None), 1 => text(&["other"], &[]).prop_map(Some)],
        claims(),
        signing,
        prop::collection::vec(any::<u8>(), 0..80),
    )
        .prop_map(|(alg, kid, claims, signing, forged_signature)| Jwt { alg, kid, claims, signing, forged_signature })
        .boxed()
}

/// Whether a genuine JWT with `claims` may be accepted: issued by the issuer for the audience,
/// not expired (a minute of leeway at most counts), for a subject.
fn acceptable(claims: &Value) -> bool {
    let now = agentry_core::clock::now_ms() / 1000;
    let audience_ok = match &claims["aud"] {
        Value::String(audience) => audience == AUDIENCE,
        Value::Array(audiences) => audiences.iter().any(|audience| audience == AUDIENCE),
        _ => false,
    };
    claims["iss"] == ISSUER
        && audience_ok
        && claims["exp"].as_f64().is_some_and(|exp| exp > (now - 300) as f64)
        && claims["sub"].as_str().is_some_and(|sub| !sub.is_empty())
}

/// Generated JWTs and mutated corpus headers: only the hub's genuine, valid JWTs and the auth
/// file's tokens are accepted.
#[test]
fn authorization_headers_authenticate_or_refuse() {
    let hub = Hub::start();
    let headers: Vec<Vec<u8>> = harness::corpus(TARGET, "authorization").into_iter().map(|seed| seed.bytes).collect();
    let scheme = prop_oneof![
        6 => Just("Bearer "),
        1 => prop::sample::select(vec!["bearer ", "BEARER  ", " Bearer\t", "Basic ", ""]),
    ];
    let strategy = prop_oneof![
        3 => (scheme, jwt()).prop_map(|(scheme, jwt)| (scheme.to_owned(), Some(jwt))),
        1 => harness::mutated_text(headers, &["Bearer ", ".", "=", " ", "token-", "eyJ", "\u{0}"]).prop_map(|header| (header, None)),
    ];
    let save = |(header, jwt): &(String, Option<Jwt>)| match jwt {
        Some(_) => None,
        None => Found::new("authorization", "txt", header.clone().into_bytes()),
    };
    harness::run(TARGET, "authorization", harness::cases(1), strategy, &save, |(header, jwt)| {
        let (header, genuine) = match &jwt {
            Some(jwt) => {
                let (token, genuine) = jwt.token(&hub.key);
                (format!("{header}{token}"), genuine && acceptable(&jwt.claims))
            }
            None => (header, false),
        };
        let Some(actor) = authenticate(&hub.auth, &header)? else { return Ok(()) };
        let token = header.trim().split_once(' ').map(|(_, token)| token.trim()).unwrap_or_default();
        if jwt.is_some() && !genuine {
            return Err(fail(format!("a JWT the hub did not sign validly was accepted as {actor}: {header}")));
        }
        if jwt.is_none() && !SECRETS.contains(&token) && token.matches('.').count() != 2 {
            return Err(fail(format!("a token outside the auth file was accepted as {actor}: {header:?}")));
        }
        Ok(())
    });
}

/// Mutated auth files and JWKS documents: the authenticator loads or refuses them, and then
/// authenticates without a panic.
#[test]
fn auth_files_and_jwks_load_or_refuse() {
    let hub = Hub::start();
    let files: Vec<Vec<u8>> = harness::corpus(TARGET, "auth_file").into_iter().map(|seed| seed.bytes).collect();
    let keys: Vec<Vec<u8>> = harness::corpus(TARGET, "jwks").into_iter().map(|seed| seed.bytes).collect();
    let tokens =
        &["[[token]]\n", "name = ", "sha256 = ", "role = ", "tenant = ", "\"", "{", "}", ",", "\"kty\"", "\"crv\""];
    let strategy = (any::<bool>(), harness::mutated(files, tokens), harness::mutated(keys, tokens));
    let save = |(is_auth_file, auth_file, jwks): &(bool, Vec<u8>, Vec<u8>)| match is_auth_file {
        true => Found::new("auth_file", "toml", auth_file.clone()),
        false => Found::new("jwks", "json", jwks.clone()),
    };
    harness::run(TARGET, "credential_files", harness::cases(2), strategy, &save, |(is_auth_file, auth_file, jwks)| {
        let config = if is_auth_file {
            std::fs::write(hub.path("fuzzed.toml"), auth_file).expect("writing the auth file");
            HubConfig { auth_file: Some(hub.path("fuzzed.toml")), ..hub.config.clone() }
        } else {
            std::fs::write(hub.path("fuzzed.json"), jwks).expect("writing the JWKS");
            HubConfig { jwt_jwks: Some(path_text(&hub.path("fuzzed.json"))), ..hub.config.clone() }
        };
        if let Ok(auth) = hub.load(&config) {
            for header in ["Bearer token-admin", "Bearer x.y.z", "Bearer eyJhbGciOiJFUzI1NiJ9.e30.AAAA"] {
                authenticate(&auth, header)?;
            }
        }
        Ok(())
    });
}
