-- Reused by every batch of one transaction (several batches of one file import): create it on
-- the first, empty it for the next ones.
CREATE TEMP TABLE IF NOT EXISTS import_emails (email text PRIMARY KEY) ON COMMIT DROP;
TRUNCATE import_emails;
