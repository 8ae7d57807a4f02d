"""What an import reads: chunks of raw leads (or of leads already prepared), in input order, from
memory, a file, or a source staged on disk; every input can be read more than once."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from leads_import.duckdb_session import duckdb_cursor
from transforms.normalise import prepare_leads
from transforms.records import record_emails, records_to_raw_frame, records_warnings


def prepare(raw: pl.DataFrame) -> pl.DataFrame:
    """`transforms.normalise.prepare_leads` on the process's DuckDB (for the JSON cells)."""
    with duckdb_cursor() as con:
        return prepare_leads(raw, con)


class ImportInput(Protocol):
    """Chunks of an input in input order: canonical raw frames (`transforms.headers`), or
    prepared ones (`prepare`) when `prepared` is true. `chunks()` may be called again (a second
    pass re-reads the input). A reader's `leads_import.readers.sources.LeadSource` is one."""

    warnings: list[str]

    def chunks(self) -> Iterator[pl.DataFrame]: ...


@dataclass
class Frames:
    """An input held in memory (API requests, the Python API): raw frames, or prepared ones."""

    frames: list[pl.DataFrame]
    warnings: list[str] = field(default_factory=list)
    prepared: bool = False

    @property
    def rows(self) -> int:
        return sum(frame.height for frame in self.frames)

    def chunks(self) -> Iterator[pl.DataFrame]:
        yield from self.frames

    def email_columns(self) -> list[pl.Series]:
        """Each frame's email column (normalised when `prepared`)."""
        return [frame.get_column("email") for frame in self.frames]


@dataclass
class Records:
    """An input of dicts with API field names (the HTTP API, the Python API), turned into its one
    raw frame when first read: the lookup of its emails need not wait for that."""

    records: list[Mapping[str, Any]]
    warnings: list[str] = field(default_factory=list)
    prepared: bool = False

    @classmethod
    def of(cls, records: list[Mapping[str, Any]]) -> Records:
        return cls(records, records_warnings(records))

    @property
    def rows(self) -> int:
        return len(self.records)

    @cached_property
    def frames(self) -> list[pl.DataFrame]:
        raw, _ = records_to_raw_frame(self.records)
        return [raw]

    def chunks(self) -> Iterator[pl.DataFrame]:
        yield from self.frames

    def email_columns(self) -> list[pl.Series]:
        """The emails as given (not normalised), without building the raw frame."""
        return [record_emails(self.records)]


# An input held in memory, short enough for one lookup of its emails.
InMemory = Frames | Records


@dataclass
class RawFiles:
    """An input staged on disk as raw Parquet chunks, in input order (a warehouse sync's rows,
    read once from the source and then as often as the import needs)."""

    paths: list[str]
    warnings: list[str] = field(default_factory=list)
    rows: int = 0
    prepared: bool = False
    columns: dict[str, str | None] | None = None  # each source column -> its field (the report)

    @classmethod
    def stage(cls, raw_chunks: Iterator[pl.DataFrame], folder: Path) -> RawFiles:
        """Write each raw chunk to `folder` as `raw-NNNNN.parquet`."""
        staged = cls([])
        for raw in raw_chunks:
            path = folder / f"raw-{len(staged.paths):05d}.parquet"
            raw.write_parquet(path)
            staged.paths.append(str(path))
            staged.rows += raw.height
        return staged

    def chunks(self) -> Iterator[pl.DataFrame]:
        for path in self.paths:
            yield pl.read_parquet(path)
