-- A group of commits in one statement (PostgreSQL group commit): each commit is applied as by
-- `commit.sql`, and a commit whose fence fails writes nothing and returns no row, without
-- affecting the others. One round trip and one WAL flush for the whole group.
-- Per commit i (arrays of equal length, commit ordinal = position from 1): $1 run ids,
-- $2 epochs, $3 new statuses (NULL elements keep the status), $4 errors, $5 commit ids,
-- $6 event counts, $7 message counts; $8 now.
-- Per event: $9 commit ordinal, $10 position in its commit (from 1), $11 kinds, $12 data,
-- $13 ts_ms. Per message: $14 commit ordinal, $15 position in its commit (from 1), $16 roles,
-- $17 contents, $18 tool calls, $19 tool call ids. Per event again: $20 traceparents (NULL
-- elements: unknown).
-- Commits of one agent in the same group (not expected: an agent runs one run at a time, and
-- a node commits one step at a time) still get consecutive, gap-free positions, in ordinal
-- order. Each message records the seq of its commit's last event (`offsets.last_seq`).
-- Returns one row per applied commit: the run, its ordinal and the agent's last seq
-- after that commit.
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[])
        WITH ORDINALITY AS input (run_id, epoch, status, error, commit_id, event_count, message_count, ordinal)
), run AS (
    UPDATE runs SET status = COALESCE(input.status, runs.status), error = COALESCE(input.error, runs.error),
        updated_ms = $8, last_commit_id = input.commit_id
    FROM input
    WHERE runs.id = input.run_id AND runs.epoch = input.epoch
      AND runs.status NOT IN ('completed', 'failed', 'cancelled')
      AND (runs.last_commit_id IS NULL OR input.commit_id IS NULL OR runs.last_commit_id <> input.commit_id)
    RETURNING runs.*, input.ordinal, input.event_count, input.message_count
), totals AS (
    SELECT agent_id, sum(event_count)::bigint AS event_count, sum(message_count)::bigint AS message_count
    FROM run GROUP BY agent_id
), positions AS (
    UPDATE agents SET last_seq = agents.last_seq + totals.event_count,
        message_count = agents.message_count + totals.message_count
    FROM totals
    WHERE agents.id = totals.agent_id
    RETURNING agents.id AS agent_id, agents.last_seq - totals.event_count AS seq_before,
        agents.message_count - totals.message_count AS index_before
), offsets AS (
    SELECT run.ordinal, run.id AS run_id, run.agent_id,
        positions.seq_before + (sum(run.event_count) OVER earlier)::bigint - run.event_count AS seq_offset,
        positions.index_before + (sum(run.message_count) OVER earlier)::bigint - run.message_count AS index_offset,
        positions.seq_before + (sum(run.event_count) OVER earlier)::bigint AS last_seq
    FROM run JOIN positions ON positions.agent_id = run.agent_id
    WINDOW earlier AS (PARTITION BY run.agent_id ORDER BY run.ordinal)
), new_events AS (
    INSERT INTO events (agent_id, seq, run_id, kind, data, ts_ms, traceparent)
    SELECT offsets.agent_id, offsets.seq_offset + event.position, offsets.run_id, event.kind, event.data, event.ts_ms,
        event.traceparent
    FROM unnest($9::bigint[], $10::bigint[], $11::text[], $12::text[], $13::bigint[], $20::text[])
        AS event (ordinal, position, kind, data, ts_ms, traceparent)
    JOIN offsets ON offsets.ordinal = event.ordinal
), new_messages AS (
    INSERT INTO messages (agent_id, idx, run_id, role, content, tool_calls, tool_call_id, seq)
    SELECT offsets.agent_id, offsets.index_offset + message.position - 1, offsets.run_id, message.role,
        message.content, message.tool_calls, message.tool_call_id, offsets.last_seq
    FROM unnest($14::bigint[], $15::bigint[], $16::text[], $17::text[], $18::text[], $19::text[])
        AS message (ordinal, position, role, content, tool_calls, tool_call_id)
    JOIN offsets ON offsets.ordinal = message.ordinal
)
SELECT run.id, run.agent_id, run.status, run.epoch, run.node_id, run.input, run.error, run.created_ms,
    run.updated_ms, run.wait_reason, run.ordinal, offsets.last_seq AS agent_last_seq
FROM run JOIN offsets ON offsets.ordinal = run.ordinal
