//! One MCP server tool as a [`Tool`]: `tools/call` with the model's arguments, the result as
//! text.

use std::time::Duration;

use agentry_core::limits::truncate_with_marker;
use agentry_sandbox::NetworkAccess;
use async_trait::async_trait;
use rmcp::model::{CallToolRequestParams, CallToolResult, ContentBlock, ResourceContents, ToolAnnotations};
use rmcp::{Peer, RoleClient, ServiceError};
use serde_json::Value;

use super::names::tool_name;
use crate::model::ToolSpec;
use crate::tools::{FsScope, InterruptPolicy, Tool, ToolContext, ToolError, ToolManifest};

/// Wall-clock limit of one MCP tool call in the manifest: generous, so that the run's tool
/// timeout ([`ToolContext::timeout`]) is what limits calls unless the node's config says less.
const MCP_CALL_WALL_TIME: Duration = Duration::from_secs(600);

/// A tool of an MCP server, offered as `<server>__<tool>`. Calls go to the server's connection
/// in its [`McpSession`](super::McpSession); once the session is shut down they fail.
pub struct McpTool {
    server: String,
    remote_name: String,
    spec: ToolSpec,
    manifest: ToolManifest,
    peer: Peer<RoleClient>,
}

impl std::fmt::Debug for McpTool {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("McpTool")
            .field("server", &self.server)
            .field("name", &self.spec.name)
            .field("manifest", &self.manifest)
            .finish_non_exhaustive()
    }
}

impl McpTool {
    /// Returns the tool `tool` of `server`, called through `peer`. The caller checked that the
    /// prefixed name is valid.
    pub(crate) fn new(
        server: &str,
        tool: rmcp::model::Tool,
        network: NetworkAccess,
        filesystem: FsScope,
        peer: Peer<RoleClient>,
    ) -> Self {
        let name = tool_name(server, &tool.name);
        let description = tool
            .description
            .as_deref()
            .or(tool.title.as_deref())
            .filter(|text| !text.trim().is_empty())
            .map_or_else(|| format!("Tool {:?} of the MCP server {server}.", tool.name), str::to_owned);
        let manifest = manifest(tool.annotations.as_ref(), network, filesystem);
        let parameters = Value::Object(tool.input_schema.as_ref().clone());
        Self {
            server: server.to_owned(),
            remote_name: tool.name.into_owned(),
            spec: ToolSpec { name, description, parameters },
            manifest,
            peer,
        }
    }

    /// Returns the name of the server the tool belongs to.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Returns the tool's name on its server (without the `<server>__` prefix).
    pub fn remote_name(&self) -> &str {
        &self.remote_name
    }

    /// Returns the error shown to the model for a failed `tools/call` request.
    fn call_error(&self, error: ServiceError) -> ToolError {
        let server = &self.server;
        match error {
            ServiceError::McpError(data) if data.code == rmcp::model::ErrorCode::INVALID_PARAMS => {
                ToolError::InvalidArguments(format!("{}: {}", self.spec.name, data.message))
            }
            ServiceError::McpError(data) => {
                ToolError::Failed(format!("mcp server {server}: {} (code {})", data.message, data.code.0))
            }
            ServiceError::Timeout { timeout } => ToolError::Timeout(timeout),
            ServiceError::TransportClosed | ServiceError::TransportSend(_) => {
                ToolError::Failed(format!("mcp server {server} is not reachable: {error}"))
            }
            other => ToolError::Failed(format!("mcp server {server}: {other}")),
        }
    }
}

#[async_trait]
impl Tool for McpTool {
    fn spec(&self) -> ToolSpec {
        self.spec.clone()
    }

    fn manifest(&self) -> ToolManifest {
        self.manifest.clone()
    }

    async fn call(&self, context: &ToolContext, arguments: Value) -> Result<String, ToolError> {
        let mut params = CallToolRequestParams::new(self.remote_name.clone());
        match arguments {
            Value::Object(arguments) => params = params.with_arguments(arguments),
            Value::Null => {}
            other => {
                return Err(ToolError::InvalidArguments(format!(
                    "{}: arguments must be a JSON object, not {other}",
                    self.spec.name
                )));
            }
        }
        let limit = context.timeout.min(context.manifest.wall_time);
        // Dropping the request on timeout makes rmcp send `notifications/cancelled`.
        let result = tokio::time::timeout(limit, self.peer.call_tool(params))
            .await
            .map_err(|_| ToolError::Timeout(limit))?
            .map_err(|error| self.call_error(error))?;
        let text = truncate_with_marker(&result_text(&result), context.manifest.max_output_bytes);
        if result.is_error == Some(true) {
            let message = if text.is_empty() { format!("{} failed without a message", self.spec.name) } else { text };
            return Err(ToolError::Failed(message));
        }
        Ok(text)
    }
}

/// Returns the manifest of an MCP tool: idempotent (and retried when interrupted) only when the
/// server says so (`idempotentHint`), otherwise the model is asked to check (`Ask`).
pub(crate) fn manifest(
    annotations: Option<&ToolAnnotations>,
    network: NetworkAccess,
    filesystem: FsScope,
) -> ToolManifest {
    let idempotent = annotations.and_then(|annotations| annotations.idempotent_hint).unwrap_or(false);
    ToolManifest {
        idempotent,
        network,
        filesystem,
        wall_time: MCP_CALL_WALL_TIME,
        on_interrupt: if idempotent { InterruptPolicy::Retry } else { InterruptPolicy::Ask },
        // Only stdio servers touch files: their process runs in the node's sandbox.
        sandboxed: filesystem != FsScope::None,
        ..ToolManifest::default()
    }
}

/// Returns a `tools/call` result as text for the model: text parts as they are, one line per
/// other part naming its type and size, the structured content as JSON when there are no parts.
pub(crate) fn result_text(result: &CallToolResult) -> String {
    if result.content.is_empty() {
        return result.structured_content.as_ref().map(Value::to_string).unwrap_or_default();
    }
    let parts: Vec<String> = result.content.iter().map(content_text).collect();
    parts.join("\n")
}

fn content_text(content: &ContentBlock) -> String {
    match content {
        ContentBlock::Text(text) => text.text.clone(),
        ContentBlock::Image(image) => format!("[image: {}, {} bytes]", image.mime_type, base64_len(&image.data)),
        ContentBlock::Audio(audio) => format!("[audio: {}, {} bytes]", audio.mime_type, base64_len(&audio.data)),
        ContentBlock::Resource(embedded) => match &embedded.resource {
            ResourceContents::TextResourceContents { uri, mime_type, text, .. } => {
                format!("[resource {uri}: {}, {} bytes]\n{text}", mime_type.as_deref().unwrap_or("text"), text.len())
            }
            ResourceContents::BlobResourceContents { uri, mime_type, blob, .. } => {
                format!("[resource {uri}: {}, {} bytes]", mime_type.as_deref().unwrap_or("binary"), base64_len(blob))
            }
            _ => "[resource of a type agentry does not show]".to_owned(),
        },
        ContentBlock::ResourceLink(link) => {
            let mut text = format!("[resource link {}: {:?}", link.uri, link.name);
            if let Some(mime_type) = &link.mime_type {
                text.push_str(&format!(", {mime_type}"));
            }
            if let Some(size) = link.size {
                text.push_str(&format!(", {size} bytes"));
            }
            if let Some(description) = &link.description {
                text.push_str(&format!(", {description}"));
            }
            text.push(']');
            text
        }
        _ => "[content of a type agentry does not show]".to_owned(),
    }
}

/// Returns the number of bytes base64 `data` decodes to.
fn base64_len(data: &str) -> usize {
    let digits = data.bytes().filter(|byte| !byte.is_ascii_whitespace() && *byte != b'=').count();
    digits * 3 / 4
}

#[cfg(test)]
mod tests {
    use rmcp::model::{EmbeddedResource, ImageContent, Resource};
    use serde_json::json;

    use super::*;

    fn result(content: Vec<ContentBlock>) -> CallToolResult {
        CallToolResult::success(content)
    }

    #[test]
    fn text_parts_are_joined() {
        let text = result_text(&result(vec![ContentBlock::text("one"), ContentBlock::text("two")]));
        assert_eq!(text, "one\ntwo");
    }

    #[test]
    fn non_text_parts_are_summarized_by_type_and_size() {
        let image = ContentBlock::Image(ImageContent::new("aGVsbG8=", "image/png"));
        let blob = ContentBlock::Resource(EmbeddedResource::new(ResourceContents::BlobResourceContents {
            uri: "file:///a.gz".to_owned(),
            mime_type: Some("application/gzip".to_owned()),
            blob: "AAAA".to_owned(),
            meta: None,
        }));
        let text_resource =
            ContentBlock::Resource(EmbeddedResource::new(ResourceContents::text("body", "file:///notes.txt")));
        let mut link = Resource::new("file:///big.bin", "big");
        link.size = Some(1024);
        let text = result_text(&result(vec![
            ContentBlock::text("here:"),
            image,
            blob,
            text_resource,
            ContentBlock::ResourceLink(link),
        ]));
        assert_eq!(
            text,
            "here:\n[image: image/png, 5 bytes]\n[resource file:///a.gz: application/gzip, 3 bytes]\n\
             [resource file:///notes.txt: text/plain, 4 bytes]\nbody\n[resource link file:///big.bin: \"big\", 1024 bytes]"
        );
    }

    #[test]
    fn structured_content_is_used_when_there_are_no_parts() {
        let mut structured = result(Vec::new());
        structured.structured_content = Some(json!({"sum": 3}));
        assert_eq!(result_text(&structured), r#"{"sum":3}"#);
        assert_eq!(result_text(&result(Vec::new())), "");
    }

    #[test]
    fn manifest_follows_the_idempotent_hint() {
        let mut hints = ToolAnnotations::default();
        hints.idempotent_hint = Some(true);
        let idempotent = manifest(Some(&hints), NetworkAccess::None, FsScope::WorkspaceWrite);
        assert!(idempotent.idempotent);
        assert_eq!(idempotent.on_interrupt, InterruptPolicy::Retry);
        assert_eq!(idempotent.filesystem, FsScope::WorkspaceWrite);

        hints.idempotent_hint = Some(false);
        for annotations in [Some(&hints), None] {
            let other = manifest(annotations, NetworkAccess::Any, FsScope::None);
            assert!(!other.idempotent);
            assert_eq!(other.on_interrupt, InterruptPolicy::Ask);
            assert_eq!(other.network, NetworkAccess::Any);
        }
    }

    #[test]
    fn base64_sizes_ignore_padding() {
        assert_eq!(base64_len(""), 0);
        assert_eq!(base64_len("aGVsbG8="), 5);
        assert_eq!(base64_len("aGVsbG8h"), 6);
        assert_eq!(base64_len("aGVs\nbG8h"), 6);
    }
}
