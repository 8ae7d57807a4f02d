-- Settings of the embedded PostgreSQL for bulk loads, applied once to a new server (each line
-- one ALTER SYSTEM: it cannot run in a transaction block). The defaults (128 MB of shared
-- buffers, 1 GB of WAL between checkpoints) made a 10M-row import 40% slower: its email index
-- outgrows the buffers, and checkpoints keep rewriting pages (BENCHMARKS.md).
ALTER SYSTEM SET shared_buffers = {shared_buffers}
ALTER SYSTEM SET max_wal_size = '4GB'
ALTER SYSTEM SET checkpoint_timeout = '15min'
