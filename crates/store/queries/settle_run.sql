-- $1 run id, $2 tokens used, $3 USD used, $4 the call's step: counted once per step.
UPDATE runs SET used_tokens = used_tokens + $2, used_cost_usd = used_cost_usd + $3, reserved_tokens = 0,
    reserved_cost_usd = 0, settled_step = $4
WHERE id = $1
