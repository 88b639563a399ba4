//! [`Authenticator`]: turns a call's `authorization: Bearer <token>` into a [`Principal`] —
//! the auth file's static tokens first (by SHA-256), then JWTs of the configured issuer — and
//! answers each tenant's [`TenantPolicy`]. The auth file and a JWKS file are re-read when they
//! change ([`Authenticator::spawn_reloader`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tonic::Status;

use super::error::AuthError;
use super::jwt::{JwksSource, JwtVerifier};
use super::limits::{RateLimiter, StreamLimiter};
use super::principal::Principal;
use super::tokens::{TokenFile, TokenHash, token_sha256};
use crate::config::HubConfig;

/// How often a JWKS fetched from a URL is fetched again (so removed keys stop verifying).
pub const JWKS_REFRESH: Duration = Duration::from_secs(300);

/// A tenant's limits and node pool: the auth file's `[tenants.<name>]` over the hub's
/// defaults (`tenant-max-agents`, `tenant-max-active-runs`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantPolicy {
    /// Agents the tenant may have; 0: unlimited.
    pub max_agents: u64,
    /// Runs the tenant may have queued or running at once; 0: unlimited.
    pub max_active_runs: u64,
    /// Labels every node running the tenant's runs must have (its node pool); empty: any node.
    pub node_selector: BTreeMap<String, String>,
}

/// Authenticates `AgentHub` callers. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

struct Inner {
    enabled: bool,
    auth_file: Option<PathBuf>,
    tokens: RwLock<Arc<TokenFile>>,
    jwt: Option<Arc<JwtVerifier>>,
    defaults: TenantPolicy,
    rate: RateLimiter,
    max_trace_streams: u32,
}

impl Authenticator {
    /// Returns the authenticator `config` describes: the auth file (`auth-file`) read, the
    /// JWT keys (`jwt-jwks`) read or fetched, the per-token rate limit, the tenant defaults.
    /// Without `auth-file` and `jwt-issuer`, authentication is off (every caller is the
    /// anonymous admin) but the tenant defaults still apply.
    ///
    /// Errors: an unreadable or invalid auth file or JWKS ([`AuthError`] names the file and key).
    pub async fn from_config(config: &HubConfig) -> Result<Self, AuthError> {
        let tokens = match &config.auth_file {
            Some(path) => load_tokens(path).await?,
            None => TokenFile::default(),
        };
        let jwt = JwtVerifier::from_config(config).await?.map(Arc::new);
        let enabled = config.auth_enabled();
        if enabled {
            tracing::info!(tokens = tokens.len(), jwt = jwt.is_some(), "authentication on");
        }
        let rate = if enabled {
            RateLimiter::new(config.rate_limit, config.rate_limit_burst)
        } else {
            RateLimiter::unlimited()
        };
        Ok(Self {
            inner: Arc::new(Inner {
                enabled,
                auth_file: config.auth_file.clone(),
                tokens: RwLock::new(Arc::new(tokens)),
                jwt,
                defaults: TenantPolicy {
                    max_agents: config.tenant_max_agents,
                    max_active_runs: config.tenant_max_active_runs,
                    node_selector: BTreeMap::new(),
                },
                rate,
                max_trace_streams: if enabled { config.max_trace_streams } else { 0 },
            }),
        })
    }

    /// Returns an authenticator with authentication off and no tenant limits.
    pub fn disabled() -> Self {
        Self {
            inner: Arc::new(Inner {
                enabled: false,
                auth_file: None,
                tokens: RwLock::default(),
                jwt: None,
                defaults: TenantPolicy::default(),
                rate: RateLimiter::unlimited(),
                max_trace_streams: 0,
            }),
        }
    }

    /// Returns whether callers must authenticate.
    pub fn enabled(&self) -> bool {
        self.inner.enabled
    }

    /// Returns the principal of a call whose `authorization` metadata is `authorization`
    /// (`Bearer <token>`); the anonymous admin when authentication is off.
    ///
    /// Errors: UNAUTHENTICATED saying why (no token, not a bearer token, an unknown token, an
    /// expired or otherwise invalid JWT).
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, Status> {
        if !self.inner.enabled {
            return Ok(Principal::anonymous());
        }
        let Some(authorization) = authorization else {
            return Err(Status::unauthenticated(
                "this hub requires a token: send `authorization: Bearer <token>` (a token of hub.auth-file or a JWT \
                 of hub.jwt-issuer)",
            ));
        };
        let token = match authorization.trim().split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => token.trim(),
            _ => return Err(Status::unauthenticated("the authorization metadata is not `Bearer <token>`")),
        };
        self.authenticate_token(token)
    }

    /// Returns the principal of a bearer `token` (without the `Bearer ` scheme).
    ///
    /// Errors: as [`Authenticator::authenticate`].
    pub fn authenticate_token(&self, token: &str) -> Result<Principal, Status> {
        if !self.inner.enabled {
            return Ok(Principal::anonymous());
        }
        let hash = token_sha256(token);
        if let Ok(tokens) = self.inner.tokens.read()
            && let Some(principal) = tokens.lookup(&hash)
        {
            return Ok(principal.clone());
        }
        match &self.inner.jwt {
            Some(jwt) => jwt.verify(token).map_err(Status::unauthenticated),
            None => Err(Status::unauthenticated("the bearer token is not one of the tokens of hub.auth-file")),
        }
    }

    /// Returns the per-token rate limiter (`rate-limit`; unlimited when authentication is off).
    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.inner.rate
    }

    /// Returns a limiter of open trace streams per token (`max-trace-streams`; unlimited when
    /// authentication is off). Build it once and share it.
    pub fn stream_limiter(&self) -> StreamLimiter {
        StreamLimiter::new(self.inner.max_trace_streams)
    }

    /// Returns `tenant`'s limits and node pool.
    pub fn tenant_policy(&self, tenant: &str) -> TenantPolicy {
        let defaults = &self.inner.defaults;
        let tokens = self.inner.tokens.read().ok();
        match tokens.as_ref().and_then(|tokens| tokens.tenant(tenant)) {
            Some(settings) => TenantPolicy {
                max_agents: settings.max_agents.unwrap_or(defaults.max_agents),
                max_active_runs: settings.max_active_runs.unwrap_or(defaults.max_active_runs),
                node_selector: settings.node_selector.clone(),
            },
            None => defaults.clone(),
        }
    }

    /// Re-reads the auth file and the JWT keys now.
    ///
    /// Errors: as at start; what was loaded before stays in use.
    pub async fn reload(&self) -> Result<(), AuthError> {
        if let Some(path) = &self.inner.auth_file {
            self.set_tokens(load_tokens(path).await?);
        }
        if let Some(jwt) = &self.inner.jwt {
            jwt.reload().await?;
        }
        Ok(())
    }

    /// Re-reads the auth file and a JWKS file when they change (checked every `every`),
    /// fetches a URL JWKS every [`JWKS_REFRESH`], and forgets idle rate-limit state, until
    /// `stop`. A broken file is logged and the previous content kept.
    pub fn spawn_reloader(&self, every: Duration, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.clone().run_reloader(every, stop))
    }

    /// The loop of [`Authenticator::spawn_reloader`], for running under a supervisor.
    pub async fn run_reloader(self, every: Duration, stop: CancellationToken) {
        let jwks_file = self.inner.jwt.as_ref().and_then(|jwt| match jwt.source() {
            JwksSource::File(path) => Some(path.clone()),
            JwksSource::Url(_) => None,
        });
        // No stamps yet: the first pass re-reads both files, so a change made between the
        // start and this task's first run is not missed.
        let mut auth_stamp = None;
        let mut jwks_stamp = None;
        let mut jwks_fetched = tokio::time::Instant::now();
        let mut ticks = tokio::time::interval(every.max(Duration::from_millis(10)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            self.inner.rate.forget_idle();
            if let Some(path) = &self.inner.auth_file {
                let now = stamp(Some(path)).await;
                if now != auth_stamp {
                    let first = auth_stamp.is_none();
                    auth_stamp = now;
                    match load_tokens(path).await {
                        Ok(tokens) => {
                            if !first {
                                tracing::info!(path = %path.display(), tokens = tokens.len(), "auth file reloaded");
                            }
                            self.set_tokens(tokens);
                        }
                        Err(error) => tracing::warn!(%error, "auth file not reloaded; the previous tokens stay"),
                    }
                }
            }
            let Some(jwt) = &self.inner.jwt else { continue };
            let due = match &jwks_file {
                Some(path) => {
                    let now = stamp(Some(path)).await;
                    let changed = now != jwks_stamp;
                    jwks_stamp = now;
                    changed
                }
                None => jwks_fetched.elapsed() >= JWKS_REFRESH,
            };
            if due {
                jwks_fetched = tokio::time::Instant::now();
                match jwt.reload().await {
                    Ok(()) => tracing::debug!(jwks = %jwt.source(), "JWT keys reloaded"),
                    Err(error) => tracing::warn!(%error, "JWT keys not reloaded; the previous keys stay"),
                }
            }
        }
    }

    fn set_tokens(&self, tokens: TokenFile) {
        if let Ok(mut current) = self.inner.tokens.write() {
            *current = Arc::new(tokens);
        }
    }
}

/// Reads the auth file off the async workers.
async fn load_tokens(path: &Path) -> Result<TokenFile, AuthError> {
    let owned = path.to_owned();
    tokio::task::spawn_blocking(move || TokenFile::load(&owned)).await.map_err(|error| AuthError::Read {
        path: path.to_owned(),
        reason: format!("the reading task failed: {error}"),
    })?
}

/// Returns what tells a changed file: the SHA-256 of its content (`None`: unreadable). The
/// content, not the modification time: two writes within the file system's timestamp
/// granularity (or a Secret volume's symlink swap) would otherwise go unnoticed; the files are
/// small.
async fn stamp(path: Option<&Path>) -> Option<TokenHash> {
    let content = tokio::fs::read(path?).await.ok()?;
    let mut hash = [0; 32];
    hash.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, &content).as_ref());
    Some(hash)
}

#[cfg(test)]
#[path = "authenticator_tests.rs"]
mod tests;
