"""Where the tests' files are."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
FORMATS = DATA / "formats"
HOSTILE = DATA / "hostile"
SAMPLE = REPO / "examples" / "leads.csv"
TEST_DATA_DIR = REPO / ".cache" / "test-data"  # the tests' embedded PostgreSQL
# tests/data/leads.csv written in every other supported format: the same six leads.
OTHER_FORMATS = [
    "leads.tsv",
    "leads.json",
    "leads.ndjson",
    "leads.parquet",
    "leads.xlsx",
    "leads.csv.gz",
    "leads.json.gz",
    "leads.ndjson.gz",
]
