-- A merge statement prepared once per connection (its parsing and planning cost as much as
-- running it on an API batch): $1 the workspace id, $2 the merge rows as JSON.
PREPARE {name} AS {statement}
