//! W3C trace context: the `traceparent` of a run, which makes each run one distributed trace
//! across the client, the hub and every node that executes it.
//!
//! Format: <https://www.w3.org/TR/trace-context/#traceparent-header> — version `00`,
//! `<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>`, lowercase, neither id all zeros.

use std::fmt;

use crate::ids::RunId;

/// Name of the W3C header (and gRPC metadata key, and NATS message header) that carries a
/// [`TraceParent`].
pub const TRACEPARENT_HEADER: &str = "traceparent";

/// A W3C `traceparent`: the trace a run belongs to and the span its executions descend from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    /// The trace id (16 bytes, never all zeros).
    pub trace_id: [u8; 16],
    /// The parent span id (8 bytes, never all zeros).
    pub span_id: [u8; 8],
    /// The `sampled` flag (bit 0 of the trace flags).
    pub sampled: bool,
}

impl TraceParent {
    /// Parses a `traceparent` header value. Accepts versions other than `00` (and `ff`, which
    /// is invalid) by their first four fields, as the specification asks of version-00 parsers.
    ///
    /// Returns `None` when it is malformed or an id is all zeros.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let mut fields = text.split('-');
        let version = fields.next()?;
        let trace_id = fields.next()?;
        let span_id = fields.next()?;
        let flags = fields.next()?;
        let future_version = version != "00";
        if version.len() != 2 || version == "ff" || (!future_version && fields.next().is_some()) {
            return None;
        }
        let _ = decode::<1>(version)?;
        let trace_id = decode::<16>(trace_id)?;
        let span_id = decode::<8>(span_id)?;
        let [flags] = decode::<1>(flags)?;
        Self::new(trace_id, span_id, flags & 1 == 1)
    }

    /// Returns a trace parent, or `None` when an id is all zeros (invalid in W3C).
    pub fn new(trace_id: [u8; 16], span_id: [u8; 8], sampled: bool) -> Option<Self> {
        let valid = trace_id != [0; 16] && span_id != [0; 8];
        valid.then_some(Self { trace_id, span_id, sampled })
    }

    /// Returns the trace parent of a run started without one (no client context, export off
    /// on the hub): trace id = the run id's 128 bits, so the trace of such a run is found by its
    /// id; parent span id = the run id's last 8 bytes (random in a UUIDv7); sampled.
    pub fn of_run(run_id: RunId) -> Self {
        let trace_id = *run_id.as_uuid().as_bytes();
        let mut span_id = [0; 8];
        span_id.copy_from_slice(&trace_id[8..]);
        if span_id == [0; 8] {
            span_id[7] = 1;
        }
        Self { trace_id, span_id, sampled: true }
    }

    /// Returns the trace id as 32 lowercase hex digits.
    pub fn trace_id_hex(&self) -> String {
        encode(&self.trace_id)
    }

    /// Returns the parent span id as 16 lowercase hex digits.
    pub fn span_id_hex(&self) -> String {
        encode(&self.span_id)
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flags = if self.sampled { "01" } else { "00" };
        write!(f, "00-{}-{}-{flags}", self.trace_id_hex(), self.span_id_hex())
    }
}

/// Decodes exactly `N` bytes of lowercase hex.
fn decode<const N: usize>(hex: &str) -> Option<[u8; N]> {
    let digits = hex.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let mut bytes = [0; N];
    for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(bytes)
}

fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

/// Returns `bytes` as lowercase hex.
pub fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(2 * bytes.len());
    for byte in bytes {
        hex.push(DIGITS[usize::from(byte >> 4)] as char);
        hex.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_specification_example_round_trips() {
        let parent = TraceParent::parse(EXAMPLE).expect("valid");
        assert_eq!(parent.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parent.span_id_hex(), "00f067aa0ba902b7");
        assert!(parent.sampled);
        assert_eq!(parent.to_string(), EXAMPLE);
    }

    #[test]
    fn malformed_values_are_refused() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn future_versions_are_read_by_their_first_fields() {
        let parent = TraceParent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-more").expect("valid");
        assert!(!parent.sampled);
    }

    #[test]
    fn a_run_without_context_is_its_own_trace() {
        let run_id = RunId::generate();
        let parent = TraceParent::of_run(run_id);
        assert_eq!(parent.trace_id_hex(), run_id.as_uuid().simple().to_string());
        assert_eq!(TraceParent::parse(&parent.to_string()), Some(parent));
    }
}
