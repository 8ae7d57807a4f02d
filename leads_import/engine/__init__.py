"""The engine: one entry point for an import (`run_import`), its typed options and report, and
the Python API built on it (`import_leads`, `soft_delete_leads`)."""

from leads_import.engine.inputs import ImportInput, PreparedFiles, PreparedFrames, prepare
from leads_import.engine.options import ImportOptions, OnExisting
from leads_import.engine.python_api import (
    import_leads,
    prepared_input,
    soft_delete_leads,
)
from leads_import.engine.report import ImportReport, SyncState
from leads_import.engine.run import RunHooks, run_import

__all__ = [
    "ImportInput",
    "ImportOptions",
    "ImportReport",
    "OnExisting",
    "PreparedFiles",
    "PreparedFrames",
    "RunHooks",
    "SyncState",
    "import_leads",
    "prepare",
    "prepared_input",
    "run_import",
    "soft_delete_leads",
]
