"""transforms.email_set: sets and tables of emails probed a batch at a time, against Python's
own set and dict."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.email_set import EmailSet, EmailTable, _Run

EMAILS = st.text(alphabet="abc@.", min_size=1, max_size=4)


@settings(max_examples=60, deadline=None)
@given(batches=st.lists(st.lists(EMAILS, max_size=12), max_size=12))
def test_a_growing_set_answers_like_a_python_set(batches: list[list[str]]) -> None:
    model: set[str] = set()
    emails = EmailSet()
    for batch in batches:
        series = pl.Series("email", batch, dtype=pl.String)
        assert emails.contains(series).to_list() == [email in model for email in batch]
        new = [email for email in dict.fromkeys(batch) if email not in model]
        emails.add(pl.Series("email", new, dtype=pl.String))
        model.update(new)


def test_runs_merge_so_that_few_stay() -> None:
    emails = EmailSet()
    for start in range(0, 256, 4):
        emails.add(pl.Series("email", [f"e{n}@x.io" for n in range(start, start + 4)]))
        sizes = [len(hashes) for hashes, _ in emails._runs]
        assert sum(sizes) == start + 4
        assert len(sizes) <= 4, sizes  # each run more than twice the next: logarithmic
    probe = pl.Series("email", ["e0@x.io", "e255@x.io", "e256@x.io"])
    assert emails.contains(probe).to_list() == [True, True, False]


def test_equal_hashes_of_different_emails_are_told_apart_by_their_text() -> None:
    # Forced collisions: three emails under one hash, one under another.
    rows = pl.DataFrame({"email": ["a@x.io", "b@x.io", "c@x.io", "d@x.io"]})
    run = _Run(np.array([7, 7, 7, 9], dtype=np.uint64), rows)
    probe = pl.Series("email", ["c@x.io", "z@x.io", "d@x.io", "a@x.io"])
    hashes = np.array([7, 7, 9, 7], dtype=np.uint64)
    positions, entries = run.find(probe, hashes)
    found = dict(zip(positions.tolist(), run.rows["email"].gather(entries).to_list(), strict=True))
    assert found == {0: "c@x.io", 2: "d@x.io", 3: "a@x.io"}


def test_a_table_gives_the_rows_of_the_emails_it_has() -> None:
    rows = pl.DataFrame({"email": ["a@x.io", "b@x.io", "c@x.io"], "lead_id": [1, 2, 3]})
    table = EmailTable(rows)
    found = table.rows_of(pl.Series("email", ["c@x.io", "q@x.io", "a@x.io"]))
    assert sorted(found.iter_rows()) == [("a@x.io", 1), ("c@x.io", 3)]
    assert found.schema == rows.schema
    empty = EmailTable(rows.clear()).rows_of(pl.Series("email", ["a@x.io"]))
    assert empty.height == 0 and empty.schema == rows.schema


def test_a_set_keeps_the_number_each_email_was_added_with() -> None:
    emails = EmailSet()
    emails.add(pl.Series("email", ["a@x.io", "b@x.io"]), np.array([2, 5]))
    emails.add(pl.Series("email", ["c@x.io"]), np.array([2**33]))  # beyond 4 bytes: kept whole
    emails.add(pl.Series("email", ["d@x.io"]))  # no numbers given
    found, numbers = emails.lookup(pl.Series("email", ["c@x.io", "z@x.io", "b@x.io", "d@x.io"]))
    assert found.tolist() == [True, False, True, True]
    assert numbers.tolist() == [2**33, -1, 5, -1]
