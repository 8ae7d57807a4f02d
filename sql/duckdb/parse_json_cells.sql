-- Parse the JSON cells of a staged batch in one vectorised pass (DuckDB over a Polars frame).
-- try() turns malformed JSON into NULL instead of failing the whole batch.
SELECT
    row_index,
    try(json_type(custom_fields)) AS custom_fields_type,
    try(json_type(custom_fields_extra)) AS custom_fields_extra_type,
    CASE
        WHEN custom_fields IS NULL THEN custom_fields_extra
        WHEN custom_fields_extra IS NULL THEN custom_fields
        -- extra members are all strings, so a merge patch is a shallow union (extra keys win)
        ELSE try(json_merge_patch(custom_fields, custom_fields_extra)::VARCHAR)
    END AS custom_fields_merged,
    CASE WHEN starts_with(tags, '[') THEN try(json_type(tags)) END AS tags_json_type,
    CASE WHEN starts_with(tags, '[') THEN try(json_type(tags, '$[*]')) END AS tag_types,
    CASE WHEN starts_with(tags, '[') THEN try(json_extract_string(tags, '$[*]')) END AS json_tags
FROM cells
