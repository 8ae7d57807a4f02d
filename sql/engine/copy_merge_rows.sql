COPY merge_rows (lead_id, first_name, last_name, company, title, phone, linkedin_url, website,
                 notes, source, status, custom_fields, tags)
FROM STDIN WITH (FORMAT csv);
