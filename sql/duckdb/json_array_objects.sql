-- The elements of a JSON array file (parameter: its path) as JSON text, in file order.
SELECT json::VARCHAR AS json FROM read_json_objects(?, format = 'array')
