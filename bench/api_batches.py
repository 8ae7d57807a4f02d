"""Measurement (e): batches of 1000 leads through the Python API `import_leads`.

Each batch is what an HTTP client would post: half new emails, 40% emails of seeded leads
(active ones come back as duplicates, soft-deleted ones are restored the first time), and 10%
repeats of the batch's own emails in another letter case. The batches are built before the
clock starts; each call (prepare, connect, classify, write, commit) is timed on its own, and
the report's `loadMs` (the part under the workspace lock) is kept beside it.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

import polars as pl
from seed import WORKSPACE, seed_emails

from leads_import.engine import import_leads

NEW_SHARE = 0.5
EXISTING_SHARE = 0.4


@dataclass
class BatchRuns:
    latencies_ms: list[float]
    load_ms: list[float]
    totals: dict[str, int]

    def percentile(self, p: int, values: list[float] | None = None) -> float:
        """The p-th percentile of the call latencies (or of `values`)."""
        data = self.latencies_ms if values is None else values
        return statistics.quantiles(data, n=100, method="inclusive")[p - 1]


def _existing(seed_leads: int, matched: int, count: int, seed: int) -> pl.Series:
    emails = pl.DataFrame({"k": pl.int_range(seed_leads, eager=True)}).select(
        seed_emails(matched).alias("email")
    )
    return emails.sample(count, with_replacement=True, seed=seed).get_column("email")


def _batch_frame(batches: int, size: int, existing: pl.Series) -> pl.DataFrame:
    """Every batch's rows, column-wise; `batch` says which call a row belongs to."""
    new, old = int(size * NEW_SHARE), int(size * EXISTING_SHARE)
    i = pl.int_range(batches * size).alias("i")
    frame = pl.select(i).with_columns(batch=pl.col("i") // size, slot=pl.col("i") % size)
    slot, b = pl.col("slot"), pl.col("batch")
    fresh = pl.format("api{}.{}@newco{}.com", b, slot, slot % 7)
    old_index = b * old + slot - new
    known = pl.lit(existing).gather(old_index.clip(0, existing.len() - 1))
    repeat = pl.format("API{}.{}@NEWCO{}.COM", b, slot - new - old, (slot - new - old) % 7)
    return frame.with_columns(
        email=pl.when(slot < new).then(fresh).when(slot < new + old).then(known).otherwise(repeat),
        firstName=pl.format("Api{}", slot),
        company=pl.format("Client {}", b),
        customFields=pl.struct(batch=b.cast(pl.String), plan=pl.lit("pro")),
        tags=pl.concat_list(pl.lit("api"), pl.format("batch-{}", b)),
    )


def build_batches(
    batches: int, size: int, seed_leads: int, matched: int, seed: int = 11
) -> list[list[dict[str, Any]]]:
    """`batches` lists of `size` lead dicts with API field names."""
    existing = _existing(seed_leads, matched, batches * int(size * EXISTING_SHARE), seed)
    frame = _batch_frame(batches, size, existing)
    fields = ["email", "firstName", "company", "customFields", "tags"]
    return [part.select(fields).to_dicts() for part in frame.partition_by("batch")]


def run_batches(url: str, batches: list[list[dict[str, Any]]], warmup: int) -> BatchRuns:
    """Import each batch in its own call; the first `warmup` calls are not counted."""
    latencies: list[float] = []
    load: list[float] = []
    totals = {"created": 0, "restored": 0, "duplicates": 0, "errors": 0}
    for index, batch in enumerate(batches):
        started = time.perf_counter()
        report = import_leads(batch, WORKSPACE, database=url)
        elapsed = (time.perf_counter() - started) * 1000
        if index < warmup:
            continue
        latencies.append(elapsed)
        load.append(report.get("loadMs", 0.0))
        for key in totals:
            totals[key] += report[key]
    return BatchRuns(latencies_ms=latencies, load_ms=load, totals=totals)
