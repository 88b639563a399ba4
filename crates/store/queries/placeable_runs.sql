-- Unplaced queued runs that are the oldest queued run of their agent, for agents with nothing
-- placed, running, paused or waiting (for an approval or for sub-agents): an agent's runs
-- execute one at a time, in order. With each run:
-- its agent's spec (for the node selector) and the node of the agent's previous placed run
-- (for sticky placement).
SELECT candidate.*, agents.spec AS agent_spec,
    (SELECT previous.node_id FROM runs AS previous
     WHERE previous.agent_id = candidate.agent_id AND previous.id < candidate.id
       AND previous.node_id IS NOT NULL
     ORDER BY previous.id DESC LIMIT 1) AS previous_node_id
FROM runs AS candidate
JOIN agents ON agents.id = candidate.agent_id
WHERE candidate.status = 'queued'
  AND candidate.node_id IS NULL
  AND candidate.id = (
      SELECT MIN(queued.id) FROM runs AS queued
      WHERE queued.agent_id = candidate.agent_id AND queued.status = 'queued'
  )
  AND NOT EXISTS (
      SELECT 1 FROM runs AS busy
      WHERE busy.agent_id = candidate.agent_id
        AND (busy.status IN ('running', 'paused', 'waiting_approval', 'waiting_children')
             OR (busy.status = 'queued' AND busy.node_id IS NOT NULL))
  )
ORDER BY candidate.id
LIMIT $1
