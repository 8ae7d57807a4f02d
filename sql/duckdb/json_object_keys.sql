-- The keys of the JSON objects of a Polars frame `objects` (row_index, json), in order of first
-- appearance: each distinct key set once, then its keys by the first row that has them.
WITH key_sets AS (
    SELECT json_keys(json) AS keys, min(row_index) AS first_row
    FROM objects
    WHERE json IS NOT NULL
    GROUP BY ALL
)
SELECT key FROM (
    SELECT first_row, unnest(keys) AS key, unnest(range(len(keys))) AS pos FROM key_sets
)
GROUP BY key
ORDER BY min(first_row), arg_min(pos, first_row)
