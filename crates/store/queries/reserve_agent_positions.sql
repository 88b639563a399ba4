-- $1 agent id, $2 number of events, $3 number of messages. The row lock serializes commits of
-- one agent, so the reserved seqs (last_seq - $2, last_seq] and message indexes
-- [message_count - $3, message_count) are gap-free and never given out twice.
UPDATE agents SET last_seq = last_seq + $2, message_count = message_count + $3
WHERE id = $1
RETURNING last_seq, message_count
