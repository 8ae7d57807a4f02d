-- Reused by every batch of one transaction: create it on the first, empty it for the next ones.
CREATE TEMP TABLE IF NOT EXISTS restore_rows (
    lead_id bigint PRIMARY KEY,
    first_name text, last_name text, company text, title text, phone text,
    linkedin_url text, website text, notes text, source text, status text,
    custom_fields jsonb, tags text[]
) ON COMMIT DROP;
TRUNCATE restore_rows;
