-- W3C trace context (issue 12): each run is one distributed trace. `runs.traceparent` is the
-- span its executions descend from (set at creation, carried to nodes in the task's NATS
-- header); `events.traceparent` names the span that produced each event (its trace id and span
-- id fill `TraceEvent.trace_id` / `span_id`). NULL for rows written before.
ALTER TABLE runs ADD COLUMN traceparent TEXT;
ALTER TABLE events ADD COLUMN traceparent TEXT;
