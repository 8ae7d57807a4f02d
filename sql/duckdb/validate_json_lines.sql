-- Check the lines of an NDJSON piece (a Polars frame `lines`: row_index, line, json): a line
-- that is not a valid JSON object keeps no text and becomes a row error (on its line).
SELECT
    row_index,
    line,
    CASE WHEN is_object THEN json END AS json,
    CASE WHEN NOT is_object THEN 'not a valid JSON object' END AS input_error
FROM (
    SELECT
        row_index,
        line,
        json,
        coalesce(CASE WHEN json_valid(json) THEN json_type(json) END = 'OBJECT', false)
            AS is_object
    FROM lines
)
