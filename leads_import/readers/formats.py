"""The input formats and the file extensions that select them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from leads_import.errors import UnreadableSourceError

FORMATS: Final = ("csv", "tsv", "json", "ndjson", "parquet", "xlsx")
FORMATS_BY_SUFFIX: Final[dict[str, str]] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".txt": "csv",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "xlsx",
}
COMPRESSED_SUFFIXES: Final = (".gz",)


def detect_format(path: Path, override: str | None = None) -> str:
    """The reader for a path: `--format` when given, else the extension (`.gz` looked through)."""
    if override:
        if override not in FORMATS:
            raise UnreadableSourceError(f"unsupported format {override!r} (use one of {FORMATS})")
        return override
    named = path.with_suffix("") if path.suffix.lower() in COMPRESSED_SUFFIXES else path
    fmt = FORMATS_BY_SUFFIX.get(named.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(FORMATS_BY_SUFFIX))
        raise UnreadableSourceError(
            f"cannot tell the format of {path.name}: use a file ending in {known} "
            "(optionally .gz), or pass --format"
        )
    return fmt


def check_readable(path: Path) -> None:
    """UnreadableSourceError unless `path` is a file this process may read."""
    if path.is_dir():
        raise UnreadableSourceError(f"cannot read {path}: it is a directory, not a file")
    if not path.is_file():
        reason = "no such file" if not path.exists() else "not a regular file"
        raise UnreadableSourceError(f"cannot read {path}: {reason}")
    if not os.access(path, os.R_OK):
        raise UnreadableSourceError(f"cannot read {path}: permission denied")
