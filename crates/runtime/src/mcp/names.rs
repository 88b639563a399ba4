//! What MCP server names, tool names and server configurations may be.
//!
//! Tools are offered to models as `<server>__<tool>`, and OpenAI-compatible APIs accept tool
//! names matching `^[a-zA-Z0-9_-]{1,64}$`.

use std::collections::BTreeMap;

use agentry_core::{MCP_TOOL_SEPARATOR, McpServer};

pub use agentry_core::agent::{
    MAX_MCP_SERVER_NAME_LEN as MAX_SERVER_NAME_LEN, check_mcp_server_name as validate_server_name,
};

/// Longest tool name offered to a model (`<server>__<tool>`), bytes.
pub const MAX_TOOL_NAME_LEN: usize = 64;

/// Returns whether `name` is a tool name models accept: 1 to [`MAX_TOOL_NAME_LEN`] of
/// `[A-Za-z0-9_-]`.
pub fn is_valid_tool_name(name: &str) -> bool {
    (1..=MAX_TOOL_NAME_LEN).contains(&name.len())
        && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
}

/// Returns the name a server's tool is offered under: `<server>__<tool>`.
pub fn tool_name(server: &str, tool: &str) -> String {
    format!("{server}{MCP_TOOL_SEPARATOR}{tool}")
}

/// Checks the MCP servers of an agent spec without starting them: the hub's checks
/// ([`agentry_core::agent::check_mcp_servers`]), and that each HTTP server's URL parses with a
/// host.
///
/// Errors with a message naming the server (`spec.mcp_servers.NAME: …`).
pub fn validate_servers(servers: &BTreeMap<String, McpServer>) -> Result<(), String> {
    agentry_core::agent::check_mcp_servers(servers).map_err(|error| error.0)?;
    for (name, server) in servers {
        if let McpServer::Http { url } = server {
            http_host(url).map_err(|reason| format!("spec.mcp_servers.{name}: {reason}"))?;
        }
    }
    Ok(())
}

/// Returns the host of an `http(s)` URL.
///
/// Errors when the URL does not parse, is not `http`/`https` or has no host.
pub(crate) fn http_host(url: &str) -> Result<String, String> {
    let parsed = reqwest::Url::parse(url).map_err(|error| format!("url {url:?} is invalid: {error}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("url {url:?} must be http or https"));
    }
    match parsed.host_str() {
        Some(host) if !host.is_empty() => Ok(host.to_owned()),
        _ => Err(format!("url {url:?} has no host")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stdio(command: &[&str]) -> McpServer {
        McpServer::Stdio {
            command: command.iter().map(|part| part.to_string()).collect(),
            env: BTreeMap::new(),
            network: false,
        }
    }

    fn servers(entries: Vec<(&str, McpServer)>) -> BTreeMap<String, McpServer> {
        entries.into_iter().map(|(name, server)| (name.to_owned(), server)).collect()
    }

    #[test]
    fn server_names_are_short_lowercase_and_split_unambiguously() {
        for good in ["files", "a", "git-hub", "my_server2", &"x".repeat(MAX_SERVER_NAME_LEN)] {
            assert_eq!(validate_server_name(good), Ok(()), "{good}");
        }
        for bad in ["", "Files", "a.b", "a b", "a__b", "files_", "ä", &"x".repeat(MAX_SERVER_NAME_LEN + 1)] {
            assert!(validate_server_name(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn tool_names_follow_the_openai_pattern() {
        assert!(is_valid_tool_name("everything__get-tiny-image"));
        assert!(is_valid_tool_name(&"a".repeat(MAX_TOOL_NAME_LEN)));
        assert!(!is_valid_tool_name(&"a".repeat(MAX_TOOL_NAME_LEN + 1)));
        assert!(!is_valid_tool_name(""));
        assert!(!is_valid_tool_name("files__read.file"));
        assert!(!is_valid_tool_name("files__read file"));
        assert_eq!(tool_name("files", "read_file"), "files__read_file");
    }

    #[test]
    fn valid_servers_pass() {
        let valid = servers(vec![
            ("everything", stdio(&["npx", "-y", "@modelcontextprotocol/server-everything"])),
            ("remote", McpServer::Http { url: "https://mcp.example.com/mcp".to_owned() }),
            ("local", McpServer::Http { url: "http://127.0.0.1:3001/mcp".to_owned() }),
        ]);
        assert_eq!(validate_servers(&valid), Ok(()));
        assert_eq!(validate_servers(&BTreeMap::new()), Ok(()));
    }

    #[test]
    fn invalid_servers_are_named_in_the_error() {
        let cases = [
            (servers(vec![("Bad", stdio(&["x"]))]), "spec.mcp_servers.Bad: server name"),
            (servers(vec![("empty", stdio(&[]))]), "spec.mcp_servers.empty: command is empty"),
            (servers(vec![("blank", stdio(&[" "]))]), "spec.mcp_servers.blank: command[0]"),
            (
                servers(vec![("ftp", McpServer::Http { url: "ftp://host/mcp".to_owned() })]),
                "must be an http:// or https:// URL",
            ),
            (servers(vec![("junk", McpServer::Http { url: "https://".to_owned() })]), "spec.mcp_servers.junk: url"),
        ];
        for (config, expected) in cases {
            let error = validate_servers(&config).unwrap_err();
            assert!(error.contains(expected), "{error:?} should contain {expected:?}");
        }
        let bad_env = servers(vec![(
            "env",
            McpServer::Stdio {
                command: vec!["x".to_owned()],
                env: [("A=B".to_owned(), "c".to_owned())].into(),
                network: false,
            },
        )]);
        assert!(validate_servers(&bad_env).unwrap_err().contains("env \"A=B\""));
    }
}
