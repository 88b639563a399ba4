#!/usr/bin/env python3
"""Writes the protobuf seeds (`.hex`) of the fuzz corpus: messages that proto3 JSON cannot
express (unknown enum numbers, unknown fields, malformed wire data, deep nesting). Run it from
the repository root after changing it; the files are kept in the repository.

Wire format: https://protobuf.dev/programming-guides/encoding/ (varint, tag = field << 3 | type).
"""

import os

RUN = b"0193a4f2-6c1e-7d3a-9b8e-2f1c0d4e5a6c"
AGENT = b"0193a4f2-6c1e-7d3a-9b8e-2f1c0d4e5a6b"


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number, value):
    """A field: int -> varint, bytes -> length-delimited."""
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    return varint(number << 3 | 2) + varint(len(value)) + value


def double(number, value):
    import struct
    return varint(number << 3 | 1) + struct.pack("<d", value)


def write(path, data, comment):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as out:
        out.write("".join(f"# {line}\n" for line in comment.splitlines()))
        for at in range(0, len(data), 32):
            out.write(data[at:at + 32].hex() + "\n")


def spec(model=b"openai:gpt-test", team=None):
    body = field(1, model)
    if team is not None:
        body += field(9, team)
    return body


def team_of(role_spec):
    role = field(2, role_spec)  # TeamRole.spec
    entry = field(1, b"r") + field(2, role)  # map entry: key, value
    return field(1, entry)  # Team.roles


def nested_spec(depth):
    inner = spec()
    for _ in range(depth):
        inner = spec(team=team_of(inner))
    return inner


def main():
    base = "fuzz/corpus/hub_requests"
    minimal = field(1, spec()) + field(2, b"hi")
    write(f"{base}/spawn/ok-minimal.hex", minimal, "SpawnRequest{spec{model: openai:gpt-test}, input: hi}")
    write(f"{base}/spawn/ok-unknown-field.hex", minimal + field(99, b"ignored"),
          "an unknown field (99) is skipped, as proto3 requires")
    write(f"{base}/spawn/err-empty.hex", b"", "the empty message: no spec")
    write(f"{base}/spawn/any-truncated.hex", minimal[:-1], "the input's last byte cut off")
    write(f"{base}/spawn/err-overlong-varint.hex", b"\x0a" + b"\xff" * 10 + b"\x01",
          "a length varint of 11 bytes")
    write(f"{base}/spawn/err-team-depth-9.hex", field(1, nested_spec(9)) + field(2, b"hi"),
          "teams nested 9 levels (MAX_TEAM_DEPTH is 8)")
    write(f"{base}/spawn/err-decode-recursion.hex", field(1, nested_spec(40)) + field(2, b"hi"),
          "teams nested 40 levels: 120 messages deep, past prost's recursion limit of 100")
    write(f"{base}/spawn/err-huge-max-iterations.hex",
          field(1, spec() + field(4, (1 << 32) - 1)) + field(2, b"hi"), "max_iterations u32::MAX")
    write(f"{base}/send_message/err-on-busy-99.hex",
          field(1, AGENT) + field(2, b"next") + field(4, 99), "on_busy 99: no OnBusy")
    write(f"{base}/send_message/err-on-busy-negative.hex",
          field(1, AGENT) + field(2, b"next") + field(4, -1), "on_busy -1 (ten-byte varint)")
    write(f"{base}/send_message/err-invalid-utf8.hex", field(1, AGENT) + field(2, b"\xff\xfe"),
          "input is not UTF-8: prost refuses the string")
    write(f"{base}/fork/err-count-max.hex", field(1, AGENT) + field(5, (1 << 32) - 1), "count u32::MAX")
    write(f"{base}/fork/ok-seq-max.hex", field(1, AGENT) + field(2, (1 << 64) - 1), "at_seq u64::MAX")
    write(f"{base}/fork/err-wrong-wire-type.hex", varint(1 << 3 | 0) + varint(5), "agent_id sent as a varint")

    imports = f"{base}/import_trace"
    def imported(ts_seconds, source=b"trace.jsonl"):
        timestamp = field(1, ts_seconds)
        event = field(1, 1) + field(2, timestamp) + field(3, b"run_started") + field(4, b"a") + field(5, b"r1") + field(6, b"{}")
        return (field(1, source) if source else b"") + field(3, event)
    write(f"{imports}/err-found-timestamp-overflow.hex", field(3, field(2, field(1, -9223372036854776)) + field(4, b"a")),
          "found by live_generated: an event time of -9223372036854776 s overflowed timestamp_ms (debug panic)\n"
          "before the request was checked; refused now (no source)")
    write(f"{imports}/ok-timestamp-max.hex", imported((1 << 63) - 1), "an event at i64::MAX seconds: milliseconds saturate")
    write(f"{imports}/ok-timestamp-min.hex", imported(-(1 << 63)), "an event at i64::MIN seconds: milliseconds saturate")

    commit = "fuzz/corpus/commit_payload/commit"
    event = field(1, b"final") + field(2, b'{"content":"done"}') + field(3, 1_700_000_000_000)
    message = field(1, b"assistant") + field(2, b"done")
    base_commit = field(1, RUN) + field(2, 3) + field(3, event) + field(4, message) + field(5, 3) + field(7, b"c-1")
    write(f"{commit}/ok-final.hex", base_commit, "run_id, epoch 3, a final event, an assistant message, COMPLETED")
    write(f"{commit}/err-status-99.hex", field(1, RUN) + field(2, 1) + field(5, 99), "status 99: no RunStatus")
    write(f"{commit}/err-negative-cost.hex",
          field(1, RUN) + field(2, 1) + field(8, field(1, 1) + double(3, -1.0)), "budget.settle_cost_usd -1")
    write(f"{commit}/err-nan-cost.hex",
          field(1, RUN) + field(2, 1) + field(8, field(4, 1) + double(6, float("nan"))),
          "budget.reserve_cost_usd NaN")
    write(f"{commit}/err-event-not-json.hex",
          field(1, RUN) + field(2, 1) + field(3, field(1, b"final") + field(2, b"{")), "event data {")
    write(f"{commit}/err-epoch-overlong.hex", field(1, RUN) + b"\x10" + b"\x80" * 10 + b"\x00",
          "epoch as an 11-byte varint")
    write(f"{commit}/any-many-empty-events.hex", field(1, RUN) + field(3, b"") * 64,
          "64 empty events: data '' is not JSON")

    load_run = "fuzz/corpus/commit_payload/load_run"
    extreme = field(1, (1 << 63) - 1) + field(2, 999_999_999)  # Timestamp{seconds: i64::MAX}
    run = field(1, RUN) + field(2, AGENT) + field(3, 2) + field(8, extreme) + field(9, field(1, -(1 << 63)))
    write(f"{load_run}/ok-timestamp-extremes.hex", field(1, run) + field(2, field(1, b"openai:gpt-test")),
          "created_at i64::MAX seconds, updated_at i64::MIN seconds: milliseconds saturate")
    write(f"{load_run}/err-truncated.hex", (field(1, run) + field(2, b""))[:-3], "cut inside the run")


if __name__ == "__main__":
    main()
