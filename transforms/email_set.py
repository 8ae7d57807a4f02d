"""Sets of emails probed a batch at a time, at a cost that does not grow with the set: what a
large import knows of the emails its earlier chunks had, and of the workspace's leads.

Emails are kept as sorted runs of their 64-bit hashes; a probe is a binary search per run, and
an equal hash is confirmed by comparing the emails' text (a collision is never a match). A
growing set merges its runs like a binary counter, moving hashes and positions, not text.
"""

from __future__ import annotations

import numpy as np
import polars as pl


def _hashes(emails: pl.Series) -> np.ndarray:
    return emails.hash().to_numpy()


class _Run:
    """A table's rows, found through their emails' hashes sorted (the rows stay in place)."""

    def __init__(self, hashes: np.ndarray, rows: pl.DataFrame) -> None:
        # Polars sorts on every core; the order of equal hashes does not matter (text decides).
        self.order = pl.Series(hashes).arg_sort().to_numpy().astype(np.int64)
        self.hashes = hashes[self.order]
        self.rows = rows

    def __len__(self) -> int:
        return len(self.hashes)

    def find(self, emails: pl.Series, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions in `emails`, positions in `rows`) of the emails found here."""
        probe, entry = _matches(self.hashes, hashes)
        if not probe.size:
            return probe, entry
        entry = self.order[entry]
        column = self.rows.get_column("email")
        same = (column.gather(entry) == emails.gather(probe)).to_numpy()
        return probe[same], entry[same]


def _offsets(spans: np.ndarray) -> np.ndarray:
    """0, 1, …, n-1 for each span n, concatenated."""
    starts = np.repeat(np.cumsum(spans) - spans, spans)
    return np.arange(int(spans.sum())) - starts


class EmailSet:
    """A set of emails that grows a batch at a time. Its runs hold hashes and the positions of
    the emails in the order they were added; merging runs moves no text.

    Each email may carry a number given when it was added (an import keeps the line of the
    email's first row, so that a later duplicate can name it), stored in 4 bytes when it fits.
    """

    def __init__(self) -> None:
        self._batches: list[pl.Series] = []
        self._numbers: list[np.ndarray | None] = []  # per batch, the numbers given with it
        self._starts = np.empty(0, dtype=np.int64)  # each batch's first position
        self._added = 0
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted hashes, positions)

    def contains(self, emails: pl.Series) -> pl.Series:
        """Whether each email is in the set."""
        found, _ = self.lookup(emails)
        return pl.Series(emails.name, found)

    def lookup(self, emails: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        """Whether each email is in the set, and the number it was added with (-1 if none)."""
        found = np.zeros(emails.len(), dtype=bool)
        numbers = np.full(emails.len(), -1, dtype=np.int64)
        if not self._runs or not emails.len():
            return found, numbers
        hashes = _hashes(emails)
        matched = [_matches(run_hashes, hashes) for run_hashes, _ in self._runs]
        probe = np.concatenate([p for p, _ in matched])
        stored = np.concatenate(
            [run[1][e] for run, (_, e) in zip(self._runs, matched, strict=True)]
        )
        # The text of each stored email, gathered from the batch it was added in.
        batch = np.searchsorted(self._starts, stored, side="right") - 1
        same = np.zeros(probe.size, dtype=bool)
        number_of = np.full(probe.size, -1, dtype=np.int64)
        for number in np.unique(batch):
            rows = np.flatnonzero(batch == number)
            offsets = stored[rows] - self._starts[number]
            text = self._batches[number].gather(offsets)
            same[rows] = (text == emails.gather(probe[rows])).to_numpy()
            given = self._numbers[number]
            if given is not None:
                number_of[rows] = given[offsets]
        found[probe[same]] = True
        numbers[probe[same]] = number_of[same]
        return found, numbers

    def add(self, emails: pl.Series, numbers: np.ndarray | None = None) -> None:
        """Add emails that are not in the set yet (and distinct), each with its number."""
        if not emails.len():
            return
        positions = np.arange(self._added, self._added + emails.len(), dtype=np.int64)
        self._batches.append(emails.rename("email"))
        if numbers is not None and numbers.size and numbers.min() >= 0 and numbers.max() < 2**32:
            numbers = numbers.astype(np.uint32)
        self._numbers.append(numbers)
        self._starts = np.append(self._starts, self._added)
        self._added += emails.len()
        self._runs.append(_sorted(_hashes(emails), positions))
        while len(self._runs) > 1 and len(self._runs[-2][0]) <= 2 * len(self._runs[-1][0]):
            (last_h, last_p), (before_h, before_p) = self._runs.pop(), self._runs.pop()
            merged = _sorted(np.concatenate([before_h, last_h]), np.concatenate([before_p, last_p]))
            self._runs.append(merged)


def _sorted(hashes: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(hashes, kind="stable")  # two sorted runs merge in linear time (timsort)
    return hashes[order], positions[order]


def _matches(run_hashes: np.ndarray, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(probe, entry) pairs whose hashes are equal: every entry of an equal hash, so that a
    collision is told apart by the text."""
    # Sorted needles: numpy's search then moves forward through the run (cache-friendly).
    order = np.argsort(hashes)
    needles = hashes[order]
    low = np.empty(hashes.size, dtype=np.int64)
    high = np.empty(hashes.size, dtype=np.int64)
    low[order] = np.searchsorted(run_hashes, needles, side="left")
    high[order] = np.searchsorted(run_hashes, needles, side="right")
    probes = np.flatnonzero(high > low)
    spans = high[probes] - low[probes]
    return np.repeat(probes, spans), np.repeat(low[probes], spans) + _offsets(spans)


class EmailTable:
    """Rows keyed by a unique `email` column, looked up a batch of emails at a time."""

    def __init__(self, rows: pl.DataFrame) -> None:
        self._empty = rows.clear()
        self._run = _Run(_hashes(rows.get_column("email")), rows) if rows.height else None

    def rows_of(self, emails: pl.Series) -> pl.DataFrame:
        """The rows of these emails (those that have one)."""
        if self._run is None or not emails.len():
            return self._empty
        _, entries = self._run.find(emails, _hashes(emails))
        return self._run.rows[np.sort(entries)]
