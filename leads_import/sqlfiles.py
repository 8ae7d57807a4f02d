"""Load SQL statements from the `sql/` folder by name."""

from __future__ import annotations

from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


@cache
def load_sql(name: str) -> str:
    """Return the text of `sql/<name>.sql` (name may contain a sub-folder, e.g. `duckdb/x`)."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")
