-- Admit one API request (see api_admit_prepare.sql).
EXECUTE leads_api_admit (%(key_hash)s, %(client_bucket)s, %(limit)s, %(window_seconds)s);
