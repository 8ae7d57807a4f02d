"""readers.warehouse without a warehouse server: the statement around the user's query, result
rows as frames, hidden passwords, and a query without an email column (a DuckDB file)."""

from __future__ import annotations

import pytest

from leads_import.readers.warehouse import rows_to_frame, safe_url, sync_statement


def test_statement_wraps_the_query_and_binds_the_watermark() -> None:
    query = "SELECT email, updated_at FROM people WHERE note <> 'a:b';  \n"
    first = sync_statement(query, '"Updated At"', has_watermark=False)
    assert first == (
        "SELECT * FROM (\nSELECT email, updated_at FROM people WHERE note <> 'a\\:b'\n) "
        'AS sync_source\nWHERE "Updated At" IS NOT NULL\nORDER BY "Updated At"'
    )
    later = sync_statement(query, "updated_at", has_watermark=True)
    assert "WHERE updated_at > :watermark\nORDER BY updated_at" in later
    assert sync_statement(query, None, has_watermark=False) == (
        "SELECT email, updated_at FROM people WHERE note <> 'a\\:b'"
    )


def test_rows_of_mixed_types_become_text() -> None:
    rows = [("a@x.com", {"k": 1}, 1), ("b@x.com", [1, 2], "two")]
    frame = rows_to_frame(rows, ["email", "custom", "n"])
    assert frame["custom"].to_list() == ['{"k": 1}', "[1, 2]"]
    assert frame["n"].to_list() == ["1", "two"]


def test_safe_url_hides_the_password() -> None:
    assert safe_url("postgresql://u:s3cret@h/db") == "postgresql://u:***@h/db"
    assert safe_url("::not a url") == "<unparsable url>"


def test_a_query_without_an_email_column_is_refused_before_any_row(tmp_path) -> None:
    import duckdb

    from leads_import.errors import NoEmailColumnError
    from leads_import.readers.warehouse import read_source_chunks

    path = tmp_path / "crm.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE people AS SELECT 1 AS id, 'Ann' AS first_name")
    chunks = read_source_chunks("crm", f"duckdb:///{path}", "SELECT * FROM people", None, None, 100)
    with pytest.raises(NoEmailColumnError, match="no email column"):
        next(chunks)
