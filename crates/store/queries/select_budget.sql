SELECT * FROM budgets WHERE id = $1
