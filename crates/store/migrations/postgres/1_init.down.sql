DROP VIEW agent_summaries;
DROP TABLE nodes;
DROP TABLE events;
DROP TABLE messages;
DROP TABLE runs;
DROP TABLE agents;
