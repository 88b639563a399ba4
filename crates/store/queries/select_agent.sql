SELECT * FROM agents WHERE id = $1
