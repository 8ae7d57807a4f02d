-- Per row of a Polars frame `objects` (row_index, json, input_error, and its columns besides
-- those, such as a file row's line, passed through), two lists over JSON paths:
-- the JSON type at each path (parameter 1: `$` then the keys' paths, so types[1] is the root's)
-- and the value at each key's path as text (parameter 2), where a string is its text and a
-- number, boolean, object or array its JSON text (an object or array minified); JSON null, a
-- missing key or a row that is not an object give NULL. Each function takes the whole list of
-- paths, so a document is parsed twice per row, not once per key; readers/ndjson.py picks the
-- keys and the type errors out of the lists. Rows come in the input's order.
SELECT
    * EXCLUDE (json),
    json_type(json, ?::VARCHAR[]) AS types,
    json_extract_string(json, ?::VARCHAR[]) AS text_values
FROM objects
