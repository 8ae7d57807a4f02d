"""What an import reads: chunks of raw leads (or of leads already prepared), in input order, from
memory, a file, or a source staged on disk; every input can be read more than once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import polars as pl

from leads_import.duckdb_session import duckdb_cursor
from transforms.normalise import prepare_leads


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
