//! The auth file (`auth-file`, usually a mounted Secret): static bearer tokens, stored as the
//! hex SHA-256 of the token (never the token itself), each with the actor it stands for, a
//! role and a tenant; and per-tenant limits and node pools.
//!
//! ```toml
//! [[token]]
//! name = "ci-bot"                  # the actor
//! sha256 = "9f86d081884c7d65..."   # `printf %s "$TOKEN" | sha256sum`
//! role = "client"                  # admin | operator | client | viewer
//! tenant = "acme"                  # optional for admin (then: every tenant)
//!
//! [tenants.acme]
//! max-agents = 100
//! max-active-runs = 10
//! node-selector = { pool = "acme" }
//! ```
//!
//! Several tokens may share a name (the old and the new token while rotating); a hash may
//! appear once. Unknown keys are refused, so a misspelt limit is not silently ignored.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use ring::digest::{SHA256, digest};
use serde::Deserialize;

use super::error::AuthError;
use super::principal::{AuthMethod, Principal, Role};

/// The SHA-256 of a token.
pub type TokenHash = [u8; 32];

/// Returns the SHA-256 of `token`, the form the auth file stores it in.
pub fn token_sha256(token: &str) -> TokenHash {
    let mut hash = [0; 32];
    hash.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
    hash
}

/// Returns the lowercase hex SHA-256 of `token`: the `sha256` to write in the auth file.
pub fn token_sha256_hex(token: &str) -> String {
    token_sha256(token).iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A tenant's settings from the auth file; unset limits fall back to the hub's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TenantSettings {
    /// `max-agents`.
    pub max_agents: Option<u64>,
    /// `max-active-runs`.
    pub max_active_runs: Option<u64>,
    /// `node-selector`: labels every node running the tenant's runs must have.
    pub node_selector: BTreeMap<String, String>,
}

/// A parsed auth file: principals by token hash, tenant settings by name.
#[derive(Debug, Default)]
pub(crate) struct TokenFile {
    tokens: HashMap<TokenHash, Principal>,
    tenants: HashMap<String, TenantSettings>,
}

impl TokenFile {
    /// Reads and checks the auth file at `path`.
    ///
    /// Errors: [`AuthError::Read`], [`AuthError::Parse`] (with line and column),
    /// [`AuthError::Invalid`] naming the key.
    pub fn load(path: &Path) -> Result<Self, AuthError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| AuthError::Read { path: path.to_owned(), reason: error.to_string() })?;
        Self::parse(path, &text)
    }

    /// Parses `text`, the content of the auth file `path` (named in errors).
    pub fn parse(path: &Path, text: &str) -> Result<Self, AuthError> {
        let shape: FileShape = toml::from_str(text)
            .map_err(|error| AuthError::Parse { path: path.to_owned(), reason: error.to_string() })?;
        let invalid = |key: String, reason: String| AuthError::Invalid { path: path.to_owned(), key, reason };
        let mut tokens = HashMap::with_capacity(shape.token.len());
        for (index, token) in shape.token.into_iter().enumerate() {
            let key = |field: &str| format!("token[{index}].{field}");
            if token.name.trim().is_empty() {
                return Err(invalid(key("name"), "is empty: name the token's actor (e.g. ci-bot)".to_owned()));
            }
            let hash = parse_hex_hash(&token.sha256).ok_or_else(|| {
                invalid(
                    key("sha256"),
                    "is not 64 hex digits: write the SHA-256 of the token (`printf %s \"$TOKEN\" | sha256sum`), \
                     never the token itself"
                        .to_owned(),
                )
            })?;
            let role = Role::parse(&token.role).ok_or_else(|| {
                invalid(key("role"), format!("{:?} is not a role: use admin, operator, client or viewer", token.role))
            })?;
            let tenant = match token.tenant {
                Some(tenant) => {
                    check_tenant_name(&tenant).map_err(|reason| invalid(key("tenant"), reason))?;
                    Some(tenant)
                }
                None if role == Role::Admin => None,
                None => {
                    return Err(invalid(
                        key("tenant"),
                        format!("is missing: a {role} token acts in one tenant (only admin tokens may omit it)"),
                    ));
                }
            };
            let principal = Principal { actor: token.name, role, tenant, method: AuthMethod::Token };
            if let Some(earlier) = tokens.insert(hash, principal) {
                return Err(invalid(
                    key("sha256"),
                    format!("the same token is already listed for {}: give each token its own secret", earlier.actor),
                ));
            }
        }
        let mut tenants = HashMap::with_capacity(shape.tenants.len());
        for (name, settings) in shape.tenants {
            check_tenant_name(&name).map_err(|reason| invalid(format!("tenants.{name:?}"), reason))?;
            let settings = TenantSettings {
                max_agents: settings.max_agents,
                max_active_runs: settings.max_active_runs,
                node_selector: settings.node_selector,
            };
            tenants.insert(name, settings);
        }
        Ok(Self { tokens, tenants })
    }

    /// Returns the principal of the token whose SHA-256 is `hash`.
    pub fn lookup(&self, hash: &TokenHash) -> Option<&Principal> {
        self.tokens.get(hash)
    }

    /// Returns the settings of `tenant`, if the file has a `[tenants.<tenant>]` table.
    pub fn tenant(&self, tenant: &str) -> Option<&TenantSettings> {
        self.tenants.get(tenant)
    }

    /// Returns how many tokens the file lists.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }
}

/// Checks a tenant name: non-empty, no whitespace or control characters.
fn check_tenant_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty: name the tenant".to_owned());
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{name:?} has whitespace or control characters"));
    }
    Ok(())
}

/// Parses 64 hex digits (either case).
fn parse_hex_hash(text: &str) -> Option<TokenHash> {
    let bytes = text.trim().as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut hash = [0; 32];
    for (index, pair) in bytes.chunks_exact(2).enumerate() {
        let high = char::from(pair[0]).to_digit(16)?;
        let low = char::from(pair[1]).to_digit(16)?;
        hash[index] = u8::try_from(high * 16 + low).ok()?;
    }
    Some(hash)
}

/// The file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileShape {
    #[serde(default)]
    token: Vec<TokenShape>,
    #[serde(default)]
    tenants: BTreeMap<String, TenantShape>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenShape {
    name: String,
    sha256: String,
    role: String,
    tenant: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct TenantShape {
    max_agents: Option<u64>,
    max_active_runs: Option<u64>,
    #[serde(default)]
    node_selector: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TokenFile, AuthError> {
        TokenFile::parse(Path::new("/etc/agentry/auth.toml"), text)
    }

    fn entry(name: &str, token: &str, role: &str, tenant: Option<&str>) -> String {
        let tenant = tenant.map(|tenant| format!("tenant = \"{tenant}\"\n")).unwrap_or_default();
        format!("[[token]]\nname = \"{name}\"\nsha256 = \"{}\"\nrole = \"{role}\"\n{tenant}", token_sha256_hex(token))
    }

    #[test]
    fn the_hash_is_the_sha256_of_the_token() {
        // `printf %s test | sha256sum`
        assert_eq!(token_sha256_hex("test"), "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
        assert_eq!(parse_hex_hash(&token_sha256_hex("test").to_uppercase()), Some(token_sha256("test")));
        assert_eq!(parse_hex_hash("9f86"), None);
        assert_eq!(parse_hex_hash(&"zz".repeat(32)), None);
    }

    #[test]
    fn tokens_are_found_by_hash_with_their_role_and_tenant() {
        let text = format!(
            "{}{}[tenants.acme]\nmax-agents = 100\nmax-active-runs = 10\nnode-selector = {{ pool = \"acme\" }}\n",
            entry("ci-bot", "secret-1", "client", Some("acme")),
            entry("root", "secret-2", "admin", None),
        );
        let file = parse(&text).expect("valid file");
        assert_eq!(file.len(), 2);
        let bot = file.lookup(&token_sha256("secret-1")).expect("ci-bot");
        assert_eq!((bot.actor.as_str(), bot.role, bot.tenant.as_deref()), ("ci-bot", Role::Client, Some("acme")));
        assert_eq!(bot.method, AuthMethod::Token);
        let root = file.lookup(&token_sha256("secret-2")).expect("root");
        assert_eq!((root.role, root.tenant.as_deref()), (Role::Admin, None));
        assert!(file.lookup(&token_sha256("secret-3")).is_none());
        let acme = file.tenant("acme").expect("acme");
        assert_eq!((acme.max_agents, acme.max_active_runs), (Some(100), Some(10)));
        assert_eq!(acme.node_selector.get("pool").map(String::as_str), Some("acme"));
        assert!(file.tenant("other").is_none());
    }

    #[test]
    fn an_empty_file_has_no_tokens() {
        assert_eq!(parse("").expect("empty").len(), 0);
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name_and_line() {
        let misspelt = format!("{}[tenants.acme]\nmax-agentz = 3\n", entry("a", "t", "client", Some("acme")));
        let error = parse(&misspelt).expect_err("refused").to_string();
        assert!(error.contains("/etc/agentry/auth.toml") && error.contains("max-agentz"), "{error}");
        assert!(error.contains("line 7"), "{error}");
        let plain = "[[token]]\nname = \"a\"\ntoken = \"the-secret\"\nsha256 = \"00\"\nrole = \"admin\"\n";
        let error = parse(plain).expect_err("refused").to_string();
        assert!(error.contains("unknown field `token`"), "{error}");
    }

    #[test]
    fn invalid_values_are_refused_by_key() {
        let cases = [
            (entry("a", "t", "superuser", Some("x")), "token[0].role", "\"superuser\" is not a role"),
            (entry("a", "t", "viewer", None), "token[0].tenant", "is missing"),
            (entry("", "t", "admin", None), "token[0].name", "is empty"),
            (entry("a", "t", "client", Some("two words")), "token[0].tenant", "whitespace"),
            (
                "[[token]]\nname = \"a\"\nsha256 = \"abc\"\nrole = \"admin\"\n".to_owned(),
                "token[0].sha256",
                "is not 64 hex digits",
            ),
            (
                format!("{}{}", entry("a", "same", "admin", None), entry("b", "same", "admin", None)),
                "token[1].sha256",
                "already listed for a",
            ),
        ];
        for (text, key, reason) in cases {
            match parse(&text) {
                Err(AuthError::Invalid { key: found, reason: why, path }) => {
                    assert_eq!(found, key, "{text}");
                    assert!(why.contains(reason), "{why}");
                    assert_eq!(path, Path::new("/etc/agentry/auth.toml"));
                }
                other => panic!("{text}: expected an invalid {key}, got {other:?}"),
            }
        }
    }

    #[test]
    fn rotated_tokens_may_share_an_actor() {
        let text = format!("{}{}", entry("ci", "old", "client", Some("a")), entry("ci", "new", "client", Some("a")));
        let file = parse(&text).expect("two tokens of one actor");
        assert_eq!(file.lookup(&token_sha256("old")).map(|p| p.actor.as_str()), Some("ci"));
        assert_eq!(file.lookup(&token_sha256("new")).map(|p| p.actor.as_str()), Some("ci"));
    }

    #[test]
    fn a_missing_file_is_named() {
        let error = TokenFile::load(Path::new("/nonexistent/auth.toml")).expect_err("refused").to_string();
        assert!(error.starts_with("reading /nonexistent/auth.toml"), "{error}");
    }
}
