-- A whole commit in one statement (PostgreSQL): the fenced run update of `commit_run.sql`, the
-- agent's positions reserved as in `reserve_agent_positions.sql`, and every event and message
-- inserted from arrays, so a commit is one round trip and one implicit transaction.
-- $1 run id, $2 epoch, $3 new status or NULL, $4 error or NULL, $5 now, $6 commit id or NULL;
-- events: $7 kinds, $8 data (JSON text), $9 ts_ms; messages: $10 roles, $11 contents,
-- $12 tool calls (JSON text), $13 tool call ids (NULL elements allowed); $14 event traceparents
-- (NULL elements: unknown).
-- Each message records the seq of the commit's last event (`messages.seq`: the agent's last_seq
-- after it), so a fork at a seq knows which messages it shares.
-- Every CTE sees the same snapshot; the run row's lock is taken first, then the agent row's
-- (the order of every other writer), and the inserts use the agent counters as updated.
-- Returns no row when the run update matched none (missing, stale, terminal, or commit $6 was
-- the one applied last): then nothing was written.
WITH run AS (
    UPDATE runs SET status = COALESCE($3, status), error = COALESCE($4, error), updated_ms = $5,
        last_commit_id = $6
    WHERE id = $1 AND epoch = $2 AND status NOT IN ('completed', 'failed', 'cancelled')
      AND (last_commit_id IS NULL OR $6 IS NULL OR last_commit_id <> $6)
    RETURNING *
), positions AS (
    UPDATE agents SET last_seq = last_seq + cardinality($7::text[]),
        message_count = message_count + cardinality($10::text[])
    FROM run
    WHERE agents.id = run.agent_id
    RETURNING agents.last_seq, agents.message_count
), new_events AS (
    INSERT INTO events (agent_id, seq, run_id, kind, data, ts_ms, traceparent)
    SELECT run.agent_id, positions.last_seq - cardinality($7::text[]) + event.ordinality, run.id,
        event.kind, event.data, event.ts_ms, event.traceparent
    FROM run, positions,
        unnest($7::text[], $8::text[], $9::bigint[], $14::text[])
            WITH ORDINALITY AS event (kind, data, ts_ms, traceparent, ordinality)
), new_messages AS (
    INSERT INTO messages (agent_id, idx, run_id, role, content, tool_calls, tool_call_id, seq)
    SELECT run.agent_id, positions.message_count - cardinality($10::text[]) + message.ordinality - 1, run.id,
        message.role, message.content, message.tool_calls, message.tool_call_id, positions.last_seq
    FROM run, positions,
        unnest($10::text[], $11::text[], $12::text[], $13::text[])
            WITH ORDINALITY AS message (role, content, tool_calls, tool_call_id, ordinality)
)
SELECT run.*, positions.last_seq AS agent_last_seq FROM run, positions
