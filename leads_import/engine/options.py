"""What an import is asked to do: one typed set of options for every entry point."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from transforms.classify import ON_EXISTING
from transforms.fields import SOURCE_API

OnExisting = Literal["skip", "fill_empty", "overwrite"]  # transforms.classify.ON_EXISTING


@dataclass(frozen=True)
class ImportOptions:
    """The options of one import (SPEC sections 4-6, plus the operator's extras)."""

    restore_soft_deleted: bool = True
    dry_run: bool = False
    # What a row whose email already has an active lead does: `skip` is the contract (a
    # duplicate); `fill_empty` and `overwrite` update the lead (syncs whose source is the truth).
    on_existing: OnExisting = "skip"
    # The `source` stored on created leads whose row gives none (SPEC 1: by entry point).
    default_source: str = SOURCE_API
    # Commit after every batch that brings the uncommitted rows to at least this many (long
    # backfills); None: the whole import is one transaction.
    commit_every: int | None = None

    def __post_init__(self) -> None:
        if self.on_existing not in ON_EXISTING:
            raise ValueError(
                f"on_existing must be one of {', '.join(ON_EXISTING)}: {self.on_existing!r}"
            )
        if self.commit_every is not None and self.commit_every < 1:
            raise ValueError(f"commit_every must be a positive number: {self.commit_every}")
