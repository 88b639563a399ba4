-- $1 node id: the runs the node owns now (placed on it, queued or running), with their epochs.
SELECT * FROM runs WHERE node_id = $1 AND status IN ('queued', 'running')
