-- $1 run id: its agent's budget and the run's reservation and settled step.
SELECT agents.budget_id, runs.reserved_tokens, runs.reserved_cost_usd, runs.settled_step
FROM runs JOIN agents ON agents.id = runs.agent_id
WHERE runs.id = $1
