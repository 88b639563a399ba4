//! The `echo` tool.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Tool, ToolContext, ToolError, parse_arguments};
use crate::model::ToolSpec;

/// `echo {text}`: returns `text` unchanged. Useful to test the loop end to end.
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo;

#[derive(Deserialize)]
struct EchoArguments {
    text: String,
}

#[async_trait]
impl Tool for Echo {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "echo".to_owned(),
            description: "Returns the given text unchanged.".to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {"text": {"type": "string", "description": "Text to return."}},
                "required": ["text"],
            }),
        }
    }

    async fn call(&self, _context: &ToolContext, arguments: Value) -> Result<String, ToolError> {
        let arguments: EchoArguments = parse_arguments("echo", arguments)?;
        Ok(arguments.text)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn context() -> ToolContext {
        ToolContext::unconfined(std::env::temp_dir(), Default::default(), Duration::from_secs(5))
    }

    #[tokio::test]
    async fn echo_returns_the_text() {
        let output = Echo.call(&context(), json!({"text": "hello"})).await;
        assert_eq!(output, Ok("hello".to_owned()));
    }

    #[tokio::test]
    async fn missing_text_is_invalid_arguments() {
        let error = Echo.call(&context(), json!({"txt": "hello"})).await.unwrap_err();
        assert_eq!(error, ToolError::InvalidArguments("echo: missing field `text`".to_owned()));
        let error = Echo.call(&context(), json!({"text": 3})).await.unwrap_err();
        assert!(matches!(&error, ToolError::InvalidArguments(text) if text.contains("expected a string")), "{error}");
    }

    #[test]
    fn spec_requires_text() {
        let spec = Echo.spec();
        assert_eq!(spec.name, "echo");
        assert_eq!(spec.parameters["required"], json!(["text"]));
    }
}
