-- The ended runs of an imported trace (`sql/import.rs`), never placed (epoch 0, no node). The
-- caller appends one row per run, `($1, $2, $3, $4, $5, $6, $7, 0, NULL)` numbered on: id, agent
-- id, status (terminal), input, error, created_ms, updated_ms.
INSERT INTO runs (id, agent_id, status, input, error, created_ms, updated_ms, epoch, node_id) VALUES
