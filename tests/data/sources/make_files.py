"""Write the binary files of this folder: `uv run python tests/data/sources/make_files.py`."""

from __future__ import annotations

from pathlib import Path

import xlsxwriter

HERE = Path(__file__).resolve().parent


def first_sheet_notes() -> None:
    """A workbook whose first sheet has no email column; its second sheet holds the leads."""
    book = xlsxwriter.Workbook(HERE / "first_sheet_notes.xlsx")
    notes = book.add_worksheet("Notes")
    notes.write_row(0, 0, ["Topic", "Text"])
    notes.write_row(1, 0, ["about", "the leads are on the next sheet"])
    leads = book.add_worksheet("Leads")
    leads.write_row(0, 0, ["Email", "Name"])
    leads.write_row(1, 0, ["ann@example.com", "Ann"])
    book.close()


if __name__ == "__main__":
    first_sheet_notes()
