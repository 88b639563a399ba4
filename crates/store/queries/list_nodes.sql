SELECT * FROM nodes ORDER BY joined_ms, id
