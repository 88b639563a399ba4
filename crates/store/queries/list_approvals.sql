-- Approval requests, newest first, each with the first decision after it in its run (a run waits
-- for one call at a time, so that decision is this request's). $1 run id or '' for all runs,
-- $2 1 for pending requests only, $3 limit.
SELECT request.agent_id, request.run_id, request.data AS request,
    (SELECT decision.data FROM events AS decision
     WHERE decision.agent_id = request.agent_id AND decision.run_id = request.run_id
       AND decision.kind = 'approval_decided' AND decision.seq > request.seq
     ORDER BY decision.seq LIMIT 1) AS decision
FROM events AS request
WHERE request.kind = 'approval_requested'
  AND ($1 = '' OR request.run_id = $1)
  AND ($2 = 0 OR NOT EXISTS (
      SELECT 1 FROM events AS decision
      WHERE decision.agent_id = request.agent_id AND decision.run_id = request.run_id
        AND decision.kind = 'approval_decided' AND decision.seq > request.seq))
ORDER BY request.ts_ms DESC, request.seq DESC
LIMIT $3
