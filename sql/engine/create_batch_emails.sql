-- Reused by every batch of one transaction (several batches of one file import): create it on
-- the first, empty it for the next ones. The emails come in distinct; a key would only make the
-- COPY into it several times slower.
CREATE TEMP TABLE IF NOT EXISTS import_emails (email text NOT NULL) ON COMMIT DROP;
TRUNCATE import_emails;
