SELECT * FROM nodes WHERE id = $1
