-- $1 run id: the run's last applied commit id and its agent's last seq, to answer a retried
-- commit as the first attempt was answered.
SELECT runs.last_commit_id, agents.last_seq
FROM runs JOIN agents ON agents.id = runs.agent_id
WHERE runs.id = $1
