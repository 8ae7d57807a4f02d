-- For this transaction only: the statement-level triggers of migration 0002 keep each COPY's
-- new rows in a transition table, which spills to disk beyond work_mem (4 MB by default); a
-- streaming import's chunk of rows fits in this.
SET LOCAL work_mem = '64MB';
