-- The top-level values of a JSON file that does not start with `[` (parameters: its path, the
-- largest value's size in bytes): each value's type and keys, and for the HTTP body's shape
-- the type of `leads` and the restore flag under either spelling (as JSON text).
SELECT
    json_type(json) AS root,
    CASE WHEN json_type(json) = 'OBJECT' THEN json_keys(json) END AS keys,
    json_type(json, '$.leads') AS leads,
    json_extract(json, '$.restoreSoftDeleted')::VARCHAR AS restore_soft_deleted,
    json_extract(json, '$.restoreDeleted')::VARCHAR AS restore_deleted
FROM read_json_objects(?, format = 'unstructured', maximum_object_size = ?)
