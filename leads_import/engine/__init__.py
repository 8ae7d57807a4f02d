"""The engine: one entry point for an import (`run_import`), its typed options and report, and
the Python API built on it (`import_leads`, `soft_delete_leads`)."""

from leads_import.engine.inputs import Frames, ImportInput, RawFiles, prepare
from leads_import.engine.options import ImportOptions, OnExisting
from leads_import.engine.python_api import import_leads, leads_input, soft_delete_leads
from leads_import.engine.report import ImportReport, SyncState
from leads_import.engine.run import RunHooks, run_import

__all__ = [
    "Frames",
    "ImportInput",
    "ImportOptions",
    "ImportReport",
    "OnExisting",
    "RawFiles",
    "RunHooks",
    "SyncState",
    "import_leads",
    "leads_input",
    "prepare",
    "run_import",
    "soft_delete_leads",
]
