-- $1 run id, $2 tokens and $3 USD reserved for its next model call.
UPDATE runs SET reserved_tokens = $2, reserved_cost_usd = $3 WHERE id = $1
