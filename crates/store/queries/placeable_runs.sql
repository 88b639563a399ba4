-- Unplaced queued runs that are the oldest queued run of their agent, for agents with nothing
-- placed, running or paused: an agent's runs execute one at a time, in order.
SELECT * FROM runs AS candidate
WHERE candidate.status = 'queued'
  AND candidate.node_id IS NULL
  AND candidate.id = (
      SELECT MIN(queued.id) FROM runs AS queued
      WHERE queued.agent_id = candidate.agent_id AND queued.status = 'queued'
  )
  AND NOT EXISTS (
      SELECT 1 FROM runs AS busy
      WHERE busy.agent_id = candidate.agent_id
        AND (busy.status IN ('running', 'paused')
             OR (busy.status = 'queued' AND busy.node_id IS NOT NULL))
  )
ORDER BY candidate.id
LIMIT $1
