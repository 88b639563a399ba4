//! Size limits applied to every payload that enters the system.

/// Largest user input accepted by `Spawn` and `SendMessage`, in bytes (1 MiB).
pub const MAX_INPUT_BYTES: usize = 1024 * 1024;

/// Largest system prompt accepted in an agent spec, in bytes (64 KiB).
pub const MAX_SYSTEM_PROMPT_BYTES: usize = 64 * 1024;

/// Largest model answer (HTTP response body) accepted, in bytes (2 MiB): an answer must fit in
/// one commit (below [`MAX_GRPC_MESSAGE_BYTES`]); a larger one fails the model call, and with
/// it the run, instead of making every commit of the step fail.
pub const MAX_MODEL_RESPONSE_BYTES: usize = 2 * 1024 * 1024;

/// Largest tool output kept in the conversation, in bytes (16 KiB); longer output is truncated
/// with a marker saying how much was dropped.
pub const MAX_TOOL_OUTPUT_BYTES: usize = 16 * 1024;

/// Default cap on model calls per run.
pub const DEFAULT_MAX_ITERATIONS: u32 = 16;

/// Largest accepted `max_iterations`.
pub const MAX_ITERATIONS_LIMIT: u32 = 1000;

/// Most slots (concurrent runs) one node may offer; also the most leases one heartbeat carries.
pub const MAX_NODE_SLOTS: u32 = 10_000;

/// Largest gRPC message accepted by the hub, in bytes (8 MiB): a commit carries tool outputs.
pub const MAX_GRPC_MESSAGE_BYTES: usize = 8 * 1024 * 1024;

/// Most events one trace import may carry (`AgentHub.ImportTrace`, `agentry trace import`).
pub const MAX_IMPORT_EVENTS: usize = 100_000;

/// Longest trace event type name, in bytes (checked when a trace is imported).
pub const MAX_EVENT_TYPE_BYTES: usize = 64;

/// Returns `text` cut to at most `max_bytes` on a character boundary, with a marker naming the
/// number of bytes dropped; returns it unchanged when it fits.
pub fn truncate_with_marker(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_owned();
    }
    let mut cut = max_bytes;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}\n[truncated: {} more bytes]", &text[..cut], text.len() - cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_unchanged() {
        assert_eq!(truncate_with_marker("abc", 3), "abc");
    }

    #[test]
    fn long_text_is_cut_on_a_char_boundary() {
        let text = "ééé"; // 6 bytes
        let cut = truncate_with_marker(text, 3);
        assert_eq!(cut, "é\n[truncated: 4 more bytes]");
    }
}
