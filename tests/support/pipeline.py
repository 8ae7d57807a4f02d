"""The file import without Prefect (read, prepare, load), the CLI in-process, and what a
workspace stored: shared by the hostile-input, fuzz and export tests."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import polars as pl

from leads_import.cli.main import main
from leads_import.engine import ImportOptions, run_import
from leads_import.readers.sources import open_source
from transforms.fields import SOURCE_FILE
from transforms.report import escape_formulas, outcome_rows


def file_pipeline(path: Path, workspace) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The flow's import task without Prefect: the report and the outcome rows."""
    classified: list[pl.DataFrame] = []
    options = ImportOptions(default_source=SOURCE_FILE)
    report = run_import(open_source(path), workspace, options, on_batch=classified.append)
    outcomes = pl.concat([escape_formulas(outcome_rows(batch)) for batch in classified])
    rows = [{k: "" if v is None else str(v) for k, v in r.items()} for r in outcomes.to_dicts()]
    return report.to_json(), rows


def stored_leads(db, workspace_id: int) -> dict[str, dict[str, Any]]:
    """The workspace's leads keyed by email: every field as stored."""
    with db.cursor() as cur:
        cur.execute(
            "SELECT email, first_name, last_name, company, title, phone, linkedin_url, website, "
            "notes, source, status, custom_fields, tags FROM leads WHERE workspace_id = %s",
            (workspace_id,),
        )
        names = [column.name for column in cur.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}


def _fix_prefect_console() -> None:
    """Point Prefect's console handlers at this test's stderr (they keep the first test's)."""
    import logging

    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, PrefectConsoleHandler):
                handler.stream = sys.stderr  # setStream would flush the closed one
                handler.console.file = sys.stderr


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """`leads ARGS` in-process: exit code, stdout, stderr."""
    _fix_prefect_console()
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err
