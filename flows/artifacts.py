"""Publish a run's report to the Prefect UI: a counts table, a samples page, live progress."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from transforms.artifacts import artifact_key, counts_table, samples_markdown


def publish_report(report: dict[str, Any], workspace: str, source: str) -> None:
    """The counts table and the samples page, under keys stable per workspace."""
    create_table_artifact(
        counts_table(report),
        key=artifact_key("counts", workspace),
        description=f"Rows per outcome importing {source} into {workspace}",
    )
    create_markdown_artifact(
        samples_markdown(report),
        key=artifact_key("samples", workspace),
        description=f"Duplicate and error samples importing {source} into {workspace}",
    )


class ProgressArtifact:
    """A progress artifact of rows written, updated as batches land (at most every 1%)."""

    def __init__(self, total_rows: int, key: str, description: str) -> None:
        self._total = max(total_rows, 1)
        self._done = 0
        self._shown = 0.0
        self._id: UUID = create_progress_artifact(0.0, key=key, description=description)

    def advance(self, rows: int) -> None:
        self._done += rows
        percent = min(100.0, 100.0 * self._done / self._total)
        if percent - self._shown >= 1.0 or percent == 100.0:
            update_progress_artifact(self._id, percent)
            self._shown = percent
