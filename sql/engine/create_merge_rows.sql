-- The merge input of restored or updated leads. Reused within one transaction: created on
-- first use, emptied before each use.
CREATE TEMP TABLE IF NOT EXISTS merge_rows (
    lead_id bigint PRIMARY KEY,
    first_name text, last_name text, company text, title text, phone text,
    linkedin_url text, website text, notes text, source text, status text,
    custom_fields jsonb, tags text[]
) ON COMMIT DROP;
TRUNCATE merge_rows;
