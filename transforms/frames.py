"""Running Polars queries over frames that are already in memory."""

from __future__ import annotations

import polars as pl


def collect(query: pl.LazyFrame) -> pl.DataFrame:
    """Run `query` on Polars' in-memory engine.

    Polars 2 runs `LazyFrame.collect()` on its streaming engine unless told otherwise. Our
    queries read frames that are already in memory (a batch of rows), so streaming saves no
    memory, and its fixed cost per query (about a millisecond here) is several times the work
    of a 1000-row API batch; on 100k-row batches it was slower too (`bench/README.md`).
    """
    return query.collect(engine="in-memory")
