//! `agentry health`: is a hub (gRPC health service) or a node (HTTP `/readyz`) healthy? For
//! container `HEALTHCHECK`s, systemd watchdogs and scripts; the answer is the exit code.
//!
//! Exit codes: 0 healthy (prints `SERVING`, `ready` or `live`), 1 answered but unhealthy (the
//! `error:` line says what it answered), 2 unreachable or no answer within `--timeout`.

use std::time::Duration;

use anyhow::bail;
use clap::Args;

use agentry_sdk::{ClientError, Health};

use crate::commands::{HubArgs, parse_duration};
use crate::output::print_line;
use crate::report::Unreachable;

/// Options of `agentry health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    #[command(flatten)]
    hub: HubArgs,
    /// gRPC health service to ask the hub about: empty for the whole server, or
    /// `agentry.v1.AgentHub`, `agentry.v1.NodeService`.
    #[arg(long, default_value = "", value_name = "NAME")]
    service: String,
    /// Check an HTTP listener instead (a node's or hub's `metrics-listen`, e.g.
    /// `http://127.0.0.1:7702`; `https://` trusts --ca): `GET URL/readyz` must answer 200. Containers of nodes set it
    /// through the environment so the image's one `HEALTHCHECK` fits both roles.
    #[arg(long, env = "AGENTRY_HEALTH_HTTP", value_name = "URL")]
    http: Option<String>,
    /// With `--http`: ask `/healthz` (the process serves) instead of `/readyz` (it takes work).
    #[arg(long, requires = "http")]
    live: bool,
    /// How long to wait for the answer, connecting included.
    #[arg(long, value_parser = parse_duration, default_value = "5s", value_name = "DURATION")]
    timeout: Duration,
}

/// Checks health; an `Err` is the unhealthy or unreachable answer.
pub async fn run(args: HealthArgs) -> anyhow::Result<()> {
    let target = args.http.clone().unwrap_or_else(|| args.hub.hub.clone());
    let check = async {
        match &args.http {
            Some(url) => check_http(url, args.live, &args.hub).await,
            None => check_grpc(&args.hub, &args.service).await,
        }
    };
    let Ok(answer) = tokio::time::timeout(args.timeout, check).await else {
        let reason = format!("no answer within {}", humantime::format_duration(args.timeout));
        return Err(match args.http {
            Some(_) => Unreachable { url: target, reason }.into(),
            None => ClientError::Unreachable { url: target, reason }.into(),
        });
    };
    print_line(&answer?).map_err(Into::into)
}

/// Asks the hub's gRPC health service about `service`; returns `SERVING`.
async fn check_grpc(hub: &HubArgs, service: &str) -> anyhow::Result<String> {
    let client = hub.connect().await?;
    let health = client.health(service).await?;
    if health != Health::Serving {
        let what = if service.is_empty() { "the server".to_owned() } else { format!("service {service}") };
        bail!("hub {}: {what} is {}", hub.hub, health.as_str());
    }
    Ok(health.as_str().to_owned())
}

/// `GET {url}/readyz` (or `/healthz` when `live`); returns `ready` (`live`) on 200. An
/// `https://` URL is verified with --ca (else the system's roots), presenting --cert.
async fn check_http(url: &str, live: bool, tls: &HubArgs) -> anyhow::Result<String> {
    let (path, word) = if live { ("healthz", "live") } else { ("readyz", "ready") };
    let endpoint = format!("{}/{path}", url.trim_end_matches('/'));
    let client = match tls.load_tls()? {
        Some(tls) if url.starts_with("https://") => {
            reqwest::Client::builder().tls_backend_preconfigured(tls.client_config()).build()?
        }
        _ => reqwest::Client::new(),
    };
    let response = match client.get(&endpoint).send().await {
        Ok(response) => response,
        Err(error) if error.is_builder() => bail!("{url} is not an http:// or https:// URL: {error}"),
        Err(error) => {
            let reason = std::error::Error::source(&error).map_or_else(|| error.to_string(), ToString::to_string);
            return Err(Unreachable { url: endpoint, reason }.into());
        }
    };
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        bail!("{endpoint} answered {status}: {}", body.trim());
    }
    Ok(word.to_owned())
}
