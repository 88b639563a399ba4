//! [`HubArgs`]: the hub and the credentials of every command that talks to one — `--hub`
//! (`https://` uses TLS), `--token` / `--token-file`, `--ca`, `--cert` and `--key` — each also
//! read from its `AGENTRY_*` variable.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use agentry_sdk::tls::{ClientTls, ClientTlsFiles};
use agentry_sdk::{Client, ClientOptions};

/// Default hub URL of the client commands (the same as a node's).
pub const DEFAULT_HUB_URL: &str = agent_node::config::DEFAULT_HUB_URL;

/// The hub a client command talks to, and how.
#[derive(Debug, Clone, Args)]
pub struct HubArgs {
    /// Hub URL; `https://` connects with TLS (trusting --ca, else the system's roots).
    #[arg(long, env = "AGENTRY_HUB", default_value = DEFAULT_HUB_URL, value_name = "URL")]
    pub hub: String,
    /// Bearer token sent with every call: a token of the hub's auth file, or an OIDC access
    /// token (JWT).
    #[arg(
        long,
        env = "AGENTRY_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        value_parser = parse_token,
        conflicts_with = "token_file"
    )]
    pub token: Option<Token>,
    /// File holding the bearer token (surrounding whitespace ignored), e.g. a mounted Secret.
    #[arg(long, env = "AGENTRY_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// CA certificates (PEM) to verify an `https://` hub with, instead of the system's roots
    /// (`agentry certs dev` writes `ca.pem`).
    #[arg(long, env = "AGENTRY_CA", value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM) to present to an `https://` hub (mutual TLS); with --key.
    #[arg(long, env = "AGENTRY_CLIENT_CERT", value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// Private key (PEM) of --cert.
    #[arg(long, env = "AGENTRY_CLIENT_KEY", value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
}

/// A bearer token given on the command line or in `AGENTRY_TOKEN`; `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Token(***)")
    }
}

/// Parses `--token` (clap value parser): not blank.
fn parse_token(text: &str) -> Result<Token, String> {
    let token = text.trim();
    if token.is_empty() {
        return Err("the token is empty".to_owned());
    }
    Ok(Token(token.to_owned()))
}

impl HubArgs {
    /// Connects to the hub with the token and TLS settings given; an unreachable hub fails
    /// within a few seconds.
    ///
    /// Errors: an unreadable or empty token file, unreadable or invalid TLS files (each named),
    /// then what [`Client::connect_with`] reports.
    pub async fn connect(&self) -> anyhow::Result<Client> {
        let options = self.options()?;
        Ok(Client::connect_with(self.hub.clone(), options).await?)
    }

    /// Returns the client options of these arguments: the token (read from --token-file when
    /// that is given) and, for an `https://` hub, the TLS files loaded.
    pub fn options(&self) -> anyhow::Result<ClientOptions> {
        let token = match (&self.token, &self.token_file) {
            (Some(Token(token)), _) => Some(token.clone()),
            (None, Some(path)) => Some(read_token_file(path)?),
            (None, None) => None,
        };
        Ok(ClientOptions { token, tls: self.tls()? })
    }

    /// Loads --ca, --cert and --key for an `https://` hub; `None` when none is given (an
    /// `https://` hub is then verified with the system's roots) or the hub is plaintext.
    fn tls(&self) -> anyhow::Result<Option<ClientTls>> {
        if self.ca.is_none() && self.cert.is_none() {
            return Ok(None);
        }
        if !self.hub.starts_with("https://") {
            tracing::warn!(
                hub = %self.hub,
                "--ca, --cert and --key (AGENTRY_CA, AGENTRY_CLIENT_CERT, AGENTRY_CLIENT_KEY) apply to https:// hubs only; connecting without TLS"
            );
            return Ok(None);
        }
        self.load_tls()
    }

    /// Loads --ca, --cert and --key, whatever the hub URL (e.g. for another `https://` server
    /// such as a node's metrics listener); `None` when none is given.
    ///
    /// Errors name the file at fault.
    pub fn load_tls(&self) -> anyhow::Result<Option<ClientTls>> {
        if self.ca.is_none() && self.cert.is_none() {
            return Ok(None);
        }
        let files = ClientTlsFiles { ca: self.ca.clone(), cert: self.cert.clone(), key: self.key.clone() };
        let tls = ClientTls::load(files).context("loading the client's TLS files (--ca, --cert, --key)")?;
        Ok(Some(tls))
    }
}

/// Returns the token in the file at `path`, surrounding whitespace removed.
///
/// Errors name the file: unreadable, or empty.
pub fn read_token_file(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the token file {} (--token-file, AGENTRY_TOKEN_FILE)", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        anyhow::bail!("the token file {} is empty (--token-file, AGENTRY_TOKEN_FILE)", path.display());
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Command {
        #[command(flatten)]
        hub: HubArgs,
    }

    fn parse(arguments: &[&str]) -> Result<HubArgs, clap::Error> {
        Command::try_parse_from(std::iter::once("agentry").chain(arguments.iter().copied())).map(|command| command.hub)
    }

    #[test]
    fn a_token_comes_from_the_flag_or_a_file_not_both() {
        let args = parse(&["--hub", "http://127.0.0.1:1", "--token", " abc "]).expect("valid");
        assert_eq!(args.options().expect("options").token.as_deref(), Some("abc"));
        assert!(!format!("{args:?}").contains("abc"), "Debug hides the token");

        let directory = tempfile::tempdir().expect("tempdir");
        let file = directory.path().join("token");
        std::fs::write(&file, "from-file\n").expect("write");
        let path = file.to_str().expect("utf-8 path");
        let args = parse(&["--token-file", path]).expect("valid");
        assert_eq!(args.options().expect("options").token.as_deref(), Some("from-file"));

        assert!(parse(&["--token", "a", "--token-file", path]).is_err(), "one source only");
        assert!(parse(&["--token", "  "]).is_err(), "blank");
        assert_eq!(parse(&[]).expect("valid").options().expect("options").token, None);
    }

    #[test]
    fn an_empty_or_missing_token_file_is_named() {
        let directory = tempfile::tempdir().expect("tempdir");
        let empty = directory.path().join("empty");
        std::fs::write(&empty, "\n").expect("write");
        let error = read_token_file(&empty).expect_err("empty");
        assert!(error.to_string().contains(&format!("{} is empty", empty.display())), "{error}");
        let missing = directory.path().join("missing");
        let error = crate::report::one_line(&read_token_file(&missing).expect_err("missing"));
        assert!(error.contains(&missing.display().to_string()) && error.contains("no such file"), "{error}");
    }

    #[test]
    fn a_client_certificate_needs_its_key() {
        assert!(parse(&["--cert", "c.pem"]).is_err());
        assert!(parse(&["--key", "k.pem"]).is_err());
        assert!(parse(&["--cert", "c.pem", "--key", "k.pem"]).is_ok());
    }

    #[test]
    fn tls_files_apply_to_https_hubs_only() {
        let plaintext = parse(&["--hub", "http://127.0.0.1:1", "--ca", "/nonexistent/ca.pem"]).expect("valid");
        assert!(plaintext.options().expect("not loaded for http://").tls.is_none());
        let secure = parse(&["--hub", "https://127.0.0.1:1", "--ca", "/nonexistent/ca.pem"]).expect("valid");
        let error = crate::report::one_line(&secure.options().expect_err("loaded for https://"));
        assert!(error.contains("/nonexistent/ca.pem") && error.contains("--ca"), "{error}");
    }
}
