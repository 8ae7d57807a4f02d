"""Why the CSV parser is our own: DuckDB's `read_csv` with `store_rejects` on the checked-in
ragged and cp1252 files, beside our reader (ARCHITECTURE.md records one run).

    uv run python bench/duckdb_read_csv.py
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from leads_import.readers.sources import read_source

FORMATS = Path(__file__).resolve().parent.parent / "tests" / "data" / "formats"
RAGGED = FORMATS / "ragged.csv"
COLUMNS = "{'Email':'VARCHAR','First Name':'VARCHAR','Company Name':'VARCHAR','Notes':'VARCHAR'}"
EXPLICIT = f"auto_detect=false, header=true, delim=',', quote='\"', escape='\"', columns={COLUMNS}"
RUNS = {
    "defaults": "store_rejects=true",
    "strict_mode=false": "store_rejects=true, strict_mode=false",
    "explicit dialect": f"store_rejects=true, {EXPLICIT}",
    "explicit, strict_mode=false": f"store_rejects=true, {EXPLICIT}, strict_mode=false",
}


def true_line(text: str, record: str) -> int | None:
    """The 1-based line of the file where a rejected record starts."""
    first = record.splitlines()[0] if record else ""
    for number, line in enumerate(text.splitlines(), start=1):
        if line == first:
            return number
    return None


def duckdb_runs() -> None:
    text = RAGGED.read_text()
    for name, options in RUNS.items():
        con = duckdb.connect()  # the reject tables keep rows of every read on a connection
        try:
            rows = con.sql(f"SELECT * FROM read_csv('{RAGGED}', {options})").fetchall()
        except duckdb.Error as error:
            print(f"{name:<28} error: {str(error).splitlines()[0]}")
            continue
        emails = [row[0].split("@")[0] for row in rows if row[0] and "@" in row[0]]
        rejects = con.sql(
            "SELECT DISTINCT line, error_type, csv_line FROM reject_errors ORDER BY line"
        ).fetchall()
        shown = [f"{line}->{true_line(text, record)} {kind}" for line, kind, record in rejects]
        print(f"{name:<28} rows: {' '.join(emails)}")
        print(f"{'':<28} rejects (reported->true line): {'; '.join(shown) or 'none'}")


def encodings() -> None:
    for encoding in ("utf-8", "latin-1", "cp1252"):
        try:
            duckdb.sql(f"SELECT * FROM read_csv('{FORMATS / 'cp1252.csv'}', encoding='{encoding}')")
            print(f"cp1252.csv encoding={encoding}: read")
        except duckdb.Error as error:
            print(f"cp1252.csv encoding={encoding}: {str(error).splitlines()[0][:110]}")


def ours() -> None:
    raw, warnings = read_source(RAGGED)
    for row in raw.select("row_index", "email", "input_error").iter_rows():
        print(f"  row {row[0]}: {row[1] or '':<18} {row[2] or ''}")
    raw, warnings = read_source(FORMATS / "cp1252.csv")
    print(f"  cp1252.csv: {raw.height} rows, {warnings}")


if __name__ == "__main__":
    print(f"DuckDB {duckdb.__version__}, {RAGGED.name}:")
    duckdb_runs()
    encodings()
    print("our reader:")
    ours()
