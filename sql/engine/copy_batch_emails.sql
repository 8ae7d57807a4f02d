COPY import_emails (email) FROM STDIN WITH (FORMAT csv);
