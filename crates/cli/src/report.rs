//! Failure reporting: exactly one `error: ...` line on stderr (followed by a `hint: ...` line
//! when the flags that fix it are known: a refused token, a failed TLS handshake) and the exit
//! code.
//!
//! Exit codes: 0 success, 1 any failure, 2 the hub was unreachable (so scripts can tell "retry
//! later" from "wrong request").

use std::error::Error as StdError;
use std::process::ExitCode;

use agentry_sdk::ClientError;

/// Exit code when the hub could not be reached.
pub const EXIT_UNREACHABLE: u8 = 2;

/// Exit code of every other failure.
pub const EXIT_FAILURE: u8 = 1;

/// An HTTP listener (a node's `/readyz`) could not be reached: exit code 2, like an unreachable hub.
#[derive(Debug)]
pub struct Unreachable {
    /// The URL asked.
    pub url: String,
    /// What went wrong, one line (e.g. `connection refused`).
    pub reason: String,
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "unreachable at {}: {}", self.url, self.reason)
    }
}

impl StdError for Unreachable {}

/// Prints `error` as one line and returns its exit code. A closed stdout (`agentry trace | head`)
/// is not a failure.
pub fn failure(error: &anyhow::Error) -> ExitCode {
    if is_broken_pipe(error) {
        return ExitCode::SUCCESS;
    }
    eprintln!("error: {}", one_line(error));
    if let Some(hint) = hint(error) {
        eprintln!("hint: {hint}");
    }
    ExitCode::from(exit_code(error))
}

/// Returns what to check for a hub's refusal of the credentials or a failed TLS handshake.
pub fn hint(error: &anyhow::Error) -> Option<&'static str> {
    let client_error = error.chain().find_map(|cause| cause.downcast_ref::<ClientError>())?;
    let mut current = client_error;
    while let ClientError::TraceInterrupted { source, .. } = current {
        current = source;
    }
    match current {
        ClientError::Unauthenticated { .. } => {
            Some("pass a valid bearer token with --token, --token-file, AGENTRY_TOKEN or AGENTRY_TOKEN_FILE")
        }
        ClientError::PermissionDenied { .. } => {
            Some("`agentry whoami` shows the role and tenant the hub gives your token")
        }
        ClientError::Tls { url, .. } if url.starts_with("http://") => {
            Some("the hub serves TLS: use an https:// hub URL, trusting its CA with --ca or AGENTRY_CA")
        }
        ClientError::Tls { reason, .. } if reason.contains("use an http:// URL") => {
            Some("the hub serves plaintext: use an http:// hub URL")
        }
        ClientError::Tls { .. } => Some(
            "trust the hub's CA with --ca or AGENTRY_CA; present a client certificate with --cert and --key \
             (AGENTRY_CLIENT_CERT, AGENTRY_CLIENT_KEY)",
        ),
        _ => None,
    }
}

/// Returns 2 when the hub (or another server asked, [`Unreachable`]) was unreachable, else 1.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    let unreachable = error.chain().any(|cause| {
        cause.downcast_ref::<ClientError>().is_some_and(ClientError::is_unreachable)
            || cause.downcast_ref::<Unreachable>().is_some()
    });
    if unreachable { EXIT_UNREACHABLE } else { EXIT_FAILURE }
}

/// Returns the error and its causes on one line, `outer: inner: innermost`, skipping causes
/// whose text the previous message already contains and dropping `(os error N)` noise.
pub fn one_line(error: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let message = describe(cause);
        if message.is_empty() || parts.last().is_some_and(|previous| previous.contains(&message)) {
            continue;
        }
        parts.push(message);
    }
    parts.join(": ").split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Reports a command-line parse error. Help and version go to stdout with success; anything
/// else becomes one `error: ...` line (clap's first paragraph, joined) and exit code 1.
pub fn usage_error(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = error.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            ExitCode::from(EXIT_FAILURE)
        }
        _ => {
            let rendered = error.render().to_string();
            let first_paragraph = rendered.split("\n\n").next().unwrap_or_default();
            let line = first_paragraph.split_whitespace().collect::<Vec<_>>().join(" ");
            let line = line.strip_prefix("error: ").unwrap_or(&line);
            eprintln!("error: {line}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn describe(cause: &(dyn StdError + 'static)) -> String {
    let text = cause.to_string();
    if cause.downcast_ref::<std::io::Error>().is_none() {
        return text;
    }
    let without_code = text.find(" (os error ").map_or(text.as_str(), |index| &text[..index]);
    let mut chars = without_code.chars();
    chars.next().map(|first| first.to_lowercase().chain(chars).collect()).unwrap_or_default()
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    use super::*;

    #[test]
    fn unreachable_hub_exits_with_2() {
        let error = anyhow::Error::new(ClientError::Unreachable {
            url: "http://127.0.0.1:1".to_owned(),
            reason: "connection refused".to_owned(),
        });
        assert_eq!(exit_code(&error), EXIT_UNREACHABLE);
        assert_eq!(one_line(&error), "hub unreachable at http://127.0.0.1:1: connection refused");
        assert_eq!(exit_code(&anyhow::anyhow!("other")), EXIT_FAILURE);
    }

    #[test]
    fn a_trace_given_up_on_an_unreachable_hub_exits_with_2() {
        let unreachable =
            ClientError::Unreachable { url: "http://127.0.0.1:1".to_owned(), reason: "connection refused".to_owned() };
        let error = anyhow::Error::new(ClientError::TraceInterrupted {
            last_seq: 7,
            gave_up_after: std::time::Duration::from_secs(60),
            source: Box::new(unreachable),
        });
        assert_eq!(exit_code(&error), EXIT_UNREACHABLE);
        assert_eq!(
            one_line(&error),
            "trace interrupted after seq 7; gave up reconnecting after 60s: hub unreachable at http://127.0.0.1:1: connection refused"
        );
    }

    #[test]
    fn refused_credentials_and_tls_failures_get_a_hint_and_exit_with_1() {
        let url = "https://hub:7700".to_owned();
        let unauthenticated = anyhow::Error::new(ClientError::Unauthenticated {
            url: url.clone(),
            status: tonic::Status::unauthenticated("no bearer token"),
        });
        assert!(hint(&unauthenticated).is_some_and(|hint| hint.contains("--token")));
        assert_eq!(exit_code(&unauthenticated), EXIT_FAILURE);
        let tls = anyhow::Error::new(ClientError::Tls { url, reason: "unknown CA".to_owned() });
        assert!(hint(&tls).is_some_and(|hint| hint.contains("--ca")));
        let plaintext = ClientError::Tls { url: "http://hub:7700".to_owned(), reason: "it serves TLS".to_owned() };
        assert!(hint(&anyhow::Error::new(plaintext)).is_some_and(|hint| hint.contains("use an https:// hub URL")));
        assert_eq!(exit_code(&tls), EXIT_FAILURE, "a configuration error, not an unreachable hub");
        assert_eq!(hint(&anyhow::anyhow!("other")), None);
    }

    #[test]
    fn causes_are_flattened_on_one_line() {
        let io = std::io::Error::from_raw_os_error(98);
        let error = Err::<(), _>(io).context("binding 127.0.0.1:7700").expect_err("error");
        assert_eq!(one_line(&error), "binding 127.0.0.1:7700: address already in use");
        let nested = anyhow::anyhow!("a\nmulti-line\nreason").context("run 42 failed");
        assert_eq!(one_line(&nested), "run 42 failed: a multi-line reason");
    }

    #[test]
    fn repeated_causes_are_skipped() {
        let error = anyhow::anyhow!("connection refused").context("hub at x: connection refused");
        assert_eq!(one_line(&error), "hub at x: connection refused");
    }
}
