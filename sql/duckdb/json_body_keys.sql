-- The keys of the objects in `leads` of a JSON file holding the HTTP body's shape (parameters:
-- its path, its size in bytes), in order of first appearance.
WITH objects AS (
    SELECT unnest(leads) AS json, unnest(range(len(leads))) AS row_index
    FROM (
        SELECT json_extract(json, '$.leads[*]') AS leads
        FROM read_json_objects(?, format = 'unstructured', maximum_object_size = ?)
    )
),
key_sets AS (
    SELECT json_keys(json) AS keys, min(row_index) AS first_row
    FROM objects
    WHERE json_type(json) = 'OBJECT'
    GROUP BY ALL
)
SELECT key FROM (
    SELECT first_row, unnest(keys) AS key, unnest(range(len(keys))) AS pos FROM key_sets
)
GROUP BY key
ORDER BY min(first_row), arg_min(pos, first_row)
