-- Runs that wait for an approval, oldest first.
SELECT * FROM runs WHERE status = 'waiting_approval' ORDER BY id
