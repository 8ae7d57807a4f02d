"""`leads_import.engine.report.ImportReport` (the report across batches and its JSON forms) and
the validation of `ImportOptions`. No database."""

from __future__ import annotations

import json
from typing import Any

import pytest

from leads_import.engine.options import ImportOptions
from leads_import.engine.report import ImportReport, SyncState

CONTRACT_KEYS = ["created", "restored", "duplicates", "errors", "duplicateEmails", "errorDetails"]


def batch(
    *,
    created: int = 0,
    restored: int = 0,
    updated: int = 0,
    duplicates: list[str] | None = None,
    errors: list[int] | None = None,
) -> dict[str, Any]:
    """A batch summary as transforms.report.build_report gives it."""
    duplicates = duplicates or []
    details = [{"index": i, "email": f"e{i}", "reason": "empty email"} for i in errors or []]
    return {
        "created": created,
        "restored": restored,
        "updated": updated,
        "duplicates": len(duplicates),
        "errors": len(details),
        "duplicateEmails": duplicates,
        "errorDetails": details,
    }


# --------------------------------------------------------------------------- add_batch


def test_add_batch_sums_counts_and_rows():
    report = ImportReport(workspace="w")
    report.add_batch(batch(created=3, duplicates=["a@x.io"], errors=[4]), rows=5)
    report.add_batch(batch(created=1, restored=2, updated=1, duplicates=["b@x.io"]), rows=5)
    assert (report.created, report.restored, report.updated) == (4, 2, 1)
    assert (report.duplicates, report.errors, report.total) == (2, 1, 10)
    assert report.duplicate_emails == ["a@x.io", "b@x.io"]
    assert report.error_details == [{"index": 4, "email": "e4", "reason": "empty email"}]


def test_add_batch_cuts_samples_at_100_across_batches():
    report = ImportReport(workspace="w")
    report.add_batch(
        batch(duplicates=[f"a{i}@x.io" for i in range(70)], errors=list(range(60))), rows=130
    )
    report.add_batch(
        batch(duplicates=[f"b{i}@x.io" for i in range(70)], errors=list(range(60, 120))), rows=130
    )
    report.add_batch(batch(duplicates=["c@x.io"], errors=[500]), rows=2)
    assert report.duplicates == 141
    assert report.errors == 121
    assert report.duplicate_emails == [f"a{i}@x.io" for i in range(70)] + [
        f"b{i}@x.io" for i in range(30)
    ]
    assert [d["index"] for d in report.error_details] == list(range(100))


def test_add_batch_does_not_keep_a_reference_to_the_batch_lists():
    summary = batch(duplicates=["a@x.io"])
    report = ImportReport(workspace="w")
    report.add_batch(summary, rows=1)
    summary["duplicateEmails"].append("later@x.io")
    assert report.duplicate_emails == ["a@x.io"]


# --------------------------------------------------------------------------- to_json


def test_to_json_starts_with_the_contract_keys_and_adds_only_what_is_set():
    data = ImportReport(workspace="w").to_json()
    assert set(data) >= set(CONTRACT_KEYS)
    assert data == {
        "created": 0,
        "restored": 0,
        "updated": 0,
        "duplicates": 0,
        "errors": 0,
        "duplicateEmails": [],
        "errorDetails": [],
        "total": 0,
        "remainingCapacity": None,
        "loadMs": 0.0,
        "workspace": "w",
        "dryRun": False,
    }
    json.dumps(data)  # serialisable as is


def test_to_json_adds_extras_when_set():
    report = ImportReport(
        workspace="w",
        run_id=42,
        replayed=True,
        warnings=["ignored unknown columns: x"],
        source="leads.csv",
        format="csv",
        encoding="utf-8",
        sync=SyncState("crm", "updated_at", {"type": "int", "value": "7"}),
        timings={"read": 1.5},
        load_ms=12.345,
    )
    data = report.to_json()
    assert data["runId"] == "42"
    assert data["replayed"] is True
    assert data["warnings"] == ["ignored unknown columns: x"]
    assert (data["source"], data["format"], data["encoding"]) == ("leads.csv", "csv", "utf-8")
    assert (data["sync"], data["cursorColumn"]) == ("crm", "updated_at")
    assert data["watermark"] == {"type": "int", "value": "7"}
    assert data["timings"] == {"read": 1.5}
    assert data["loadMs"] == 12.3


def test_run_id_is_text_everywhere():
    # The CLI, the flows and the HTTP API give the same JSON: a bigint id as text.
    data = ImportReport(workspace="w", run_id=9007199254740993).to_json()
    assert data["runId"] == "9007199254740993"
    assert ImportReport.from_stored({**data, "runId": 9007199254740993}).run_id == 9007199254740993


def test_a_dry_run_has_no_run_id():
    data = ImportReport(workspace="w", dry_run=True).to_json()
    assert data["dryRun"] is True
    assert "runId" not in data


# --------------------------------------------------------------------------- stored forms


def full_report() -> ImportReport:
    report = ImportReport(
        workspace="acme",
        remaining_capacity=17,
        load_ms=3.25,
        run_id=5,
        warnings=["w1"],
        source="s.csv",
        format="csv",
        encoding="cp1252",
        sync=SyncState("crm", None, None),
        timings={"load": 3.0},
    )
    report.add_batch(batch(created=2, updated=1, duplicates=["a@x.io"], errors=[3]), rows=5)
    return report


def test_stored_json_drops_run_id_and_timings():
    stored = full_report().stored_json()
    assert "runId" not in stored
    assert "timings" not in stored
    assert stored["created"] == 2
    assert stored["warnings"] == ["w1"]


def test_from_stored_round_trips():
    report = full_report()
    stored = json.loads(json.dumps({**report.stored_json(), "runId": report.run_id}))
    restored = ImportReport.from_stored(stored)
    assert restored.to_json() == {k: v for k, v in report.to_json().items() if k != "timings"}
    assert restored.sync == SyncState("crm", None, None)


def test_from_stored_of_a_replayed_run():
    report = ImportReport(workspace="w", run_id=3)
    restored = ImportReport.from_stored({**report.stored_json(), "runId": 3, "replayed": True})
    assert restored.replayed is True
    assert restored.to_json()["replayed"] is True
    assert restored.run_id == 3


# --------------------------------------------------------------------------- options


def test_default_options_are_the_contract():
    options = ImportOptions()
    assert options.restore_soft_deleted is True
    assert options.dry_run is False
    assert options.on_existing == "skip"
    assert options.commit_every is None


@pytest.mark.parametrize("on_existing", ["skip", "fill_empty", "overwrite"])
def test_known_on_existing_policies_are_accepted(on_existing):
    assert ImportOptions(on_existing=on_existing).on_existing == on_existing


@pytest.mark.parametrize("on_existing", ["merge", "SKIP", "", None])
def test_unknown_on_existing_is_refused(on_existing):
    with pytest.raises(ValueError, match="on_existing must be one of skip, fill_empty, overwrite"):
        ImportOptions(on_existing=on_existing)


@pytest.mark.parametrize("commit_every", [0, -1])
def test_commit_every_must_be_positive(commit_every):
    with pytest.raises(ValueError, match="commit_every must be a positive number"):
        ImportOptions(commit_every=commit_every)


def test_commit_every_of_one_is_accepted():
    assert ImportOptions(commit_every=1).commit_every == 1
