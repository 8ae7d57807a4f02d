"""flows.artifacts.columns_table: the report's `columns` as the Prefect UI's table."""

from __future__ import annotations

from flows.artifacts import IGNORED_COLUMN, columns_table


def test_columns_table_lists_each_header_in_input_order() -> None:
    report = {"columns": {"E-Mail": "email", "Branche": None, "Plan": "customFields.Plan"}}
    assert columns_table(report) == [
        {"header": "E-Mail", "field": "email"},
        {"header": "Branche", "field": IGNORED_COLUMN},
        {"header": "Plan", "field": "customFields.Plan"},
    ]


def test_inputs_without_headers_have_no_columns_table() -> None:
    assert columns_table({"created": 1}) == []
    assert columns_table({"columns": None}) == []
