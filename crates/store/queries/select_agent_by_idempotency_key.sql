SELECT * FROM agents WHERE idempotency_key = $1
