-- The elements of `leads` in a JSON file holding the HTTP body's shape, {"leads": [...], …}
-- (parameters: its path, its size in bytes), as JSON text, in file order.
SELECT unnest(json_extract(json, '$.leads[*]'))::VARCHAR AS json
FROM read_json_objects(?, format = 'unstructured', maximum_object_size = ?)
