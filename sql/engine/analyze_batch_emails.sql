ANALYZE import_emails;
