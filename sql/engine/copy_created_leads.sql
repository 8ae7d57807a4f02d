COPY leads (workspace_id, email, first_name, last_name, company, title, phone, linkedin_url,
            website, notes, source, status, custom_fields, tags)
FROM STDIN WITH (FORMAT csv);
