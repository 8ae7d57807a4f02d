-- The keys of the objects of a JSON array file (parameter: its path), in order of first
-- appearance: each distinct key set once, then its keys by the first element that has them.
WITH objects AS (
    SELECT row_number() OVER () AS row_index, json
    FROM read_json_objects(?, format = 'array')
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
