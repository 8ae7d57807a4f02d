"""transforms.watermark: cursor values as JSON that round-trips their type; a SQL source's
chunk as the canonical raw frame."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from transforms.watermark import (
    WatermarkTypeError,
    decode_watermark,
    encode_watermark,
    source_rows_to_raw,
)

VALUES = [
    dt.datetime(2024, 3, 1, 12, 30, 5, 123456),
    dt.datetime(2024, 3, 1, 12, 30, 5, 123456, tzinfo=dt.UTC),
    dt.datetime(2024, 7, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=-7, minutes=-30))),
    dt.datetime(2024, 7, 1, 9, 0, tzinfo=ZoneInfo("Europe/Paris")),
    dt.date(2024, 2, 29),
    dt.time(23, 59, 59, 999999),
    0,
    -5,
    2**63 + 1,
    Decimal("1.50"),
    Decimal("-0.000001"),
    Decimal("12345678901234567890.123456789"),
    0.1,
    1e300,
    -2.5,
    "",
    "2024-01-01 déjà vu",
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_round_trip_keeps_value_and_type(value) -> None:
    encoded = encode_watermark(value)
    assert set(encoded) == {"type", "value"} and isinstance(encoded["value"], str)
    decoded = decode_watermark(json.loads(json.dumps(encoded)))  # as stored in jsonb
    assert type(decoded) is type(value)
    assert decoded == value
    if isinstance(value, dt.datetime):
        assert (decoded.tzinfo is None) == (value.tzinfo is None)
        assert decoded.utcoffset() == value.utcoffset()
    if isinstance(value, Decimal):
        assert str(decoded) == str(value)  # digits and scale kept


def test_types_are_named() -> None:
    assert encode_watermark(dt.datetime(2024, 1, 1))["type"] == "datetime"
    assert encode_watermark(dt.date(2024, 1, 1)) == {"type": "date", "value": "2024-01-01"}
    assert encode_watermark(7) == {"type": "int", "value": "7"}
    assert encode_watermark(Decimal("2.50")) == {"type": "decimal", "value": "2.50"}
    assert encode_watermark("b") == {"type": "str", "value": "b"}


@pytest.mark.parametrize("value", [True, b"x", [1], {"a": 1}, object()], ids=repr)
def test_unsupported_cursor_types_are_refused(value) -> None:
    with pytest.raises(WatermarkTypeError):
        encode_watermark(value)


@pytest.mark.parametrize(
    "encoded", [{"type": "uuid", "value": "x"}, {"type": "int", "value": 5}, {"value": "1"}]
)
def test_malformed_watermarks_are_refused(encoded) -> None:
    with pytest.raises(ValueError):
        decode_watermark(encoded)


def test_cursor_column_is_dropped_without_warning_and_indexes_are_offset() -> None:
    frame = pl.DataFrame(
        {
            "Email": ["a@x.com", "b@x.com"],
            "updated_at": [dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2)],
            "crm_id": [1, 2],
            "tags": [["x", "y"], None],
        }
    )
    raw, warnings = source_rows_to_raw(frame, "updated_at", 10)
    assert warnings == ["ignored unknown columns: crm_id"]
    assert raw["row_index"].to_list() == [10, 11]
    assert raw["email"].to_list() == ["a@x.com", "b@x.com"]
    assert raw["tags"].to_list() == ['["x","y"]', None]
    # A cursor named like a lead field stays a lead field.
    mapped, warnings = source_rows_to_raw(
        frame.drop("updated_at").rename({"crm_id": "notes"}), "notes", 0
    )
    assert warnings == [] and mapped["notes"].to_list() == ["1", "2"]
