-- The distinct keys of the objects of a JSON array file (parameter: its path).
SELECT DISTINCT unnest(json_keys(json))
FROM read_json_objects(?, format = 'array')
WHERE json_type(json) = 'OBJECT'
