-- Newest first: ids are UUIDv7, so their text order is creation order.
SELECT * FROM agent_summaries ORDER BY id DESC LIMIT $1
