-- $1 run id, $2 epoch, $3 reason (NULL clears). Only an unplaced queued run waits.
UPDATE runs SET wait_reason = $3
WHERE id = $1 AND epoch = $2 AND status = 'queued' AND node_id IS NULL
