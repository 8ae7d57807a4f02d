"""What an import reads: prepared leads, one batch in memory or a file's staged chunks."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import polars as pl

from leads_import.duckdb_session import duckdb_cursor
from transforms.fields import IS_FIRST
from transforms.normalise import prepare_leads


def prepare(raw: pl.DataFrame) -> pl.DataFrame:
    """`transforms.normalise.prepare_leads` on the process's DuckDB (for the JSON cells)."""
    with duckdb_cursor() as con:
        return prepare_leads(raw, con)


class ImportInput(Protocol):
    """Prepared rows (`transforms.normalise.prepare_leads`) in input order, as batches."""

    warnings: list[str]

    def first_flags(self) -> pl.LazyFrame:
        """`email` and `is_first` (first valid row within its batch) of every row, in order."""
        ...

    def batches(self) -> Iterator[pl.DataFrame]:
        """The prepared batches, in input order."""
        ...


@dataclass
class PreparedFrames:
    """An input held in memory as prepared batches (API requests and the Python API: one)."""

    frames: list[pl.DataFrame]
    warnings: list[str] = field(default_factory=list)

    def first_flags(self) -> pl.LazyFrame:
        return pl.concat([frame.lazy().select("email", IS_FIRST) for frame in self.frames])

    def batches(self) -> Iterator[pl.DataFrame]:
        yield from self.frames


@dataclass
class PreparedFiles:
    """An input staged as prepared Parquet files, one per chunk, in input order (file imports
    and syncs); only one chunk is in memory at a time."""

    paths: list[str]
    rows: int = 0
    warnings: list[str] = field(default_factory=list)
    source: str | None = None
    format: str | None = None
    encoding: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def stage(
        cls,
        raw_chunks: Iterable[pl.DataFrame],
        folder: Path,
        *,
        on_chunk: Callable[[int], None] | None = None,
    ) -> PreparedFiles:
        """Prepare each raw chunk and write it to `folder` as `prepared-NNNNN.parquet`; the
        time spent reading and preparing (writes included) goes to `timings`."""
        staged = cls([])
        read_s = prepare_s = 0.0
        chunks = iter(raw_chunks)
        while True:
            started = time.perf_counter()
            raw = next(chunks, None)
            read = time.perf_counter()
            read_s += read - started
            if raw is None:
                break
            prepared = prepare(raw)
            del raw
            path = folder / f"prepared-{len(staged.paths):05d}.parquet"
            prepared.write_parquet(path)
            staged.paths.append(str(path))
            staged.rows += prepared.height
            prepare_s += time.perf_counter() - read
            if on_chunk is not None:
                on_chunk(prepared.height)
        staged.timings = {
            "readMs": round(read_s * 1000, 1),
            "prepareMs": round(prepare_s * 1000, 1),
        }
        return staged

    def first_flags(self) -> pl.LazyFrame:
        if not self.paths:
            return pl.LazyFrame(schema={"email": pl.String, IS_FIRST: pl.Boolean})
        return pl.scan_parquet(self.paths).select("email", IS_FIRST)

    def batches(self) -> Iterator[pl.DataFrame]:
        for path in self.paths:
            yield pl.read_parquet(path)
