SELECT * FROM agent_summaries WHERE id = $1
