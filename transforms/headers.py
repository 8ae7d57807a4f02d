"""Map the columns of a file to the lead's fields and build the canonical raw frame."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from transforms.fields import (
    CUSTOM_FIELD_PREFIX,
    HEADER_TO_COLUMN,
    INPUT_ERROR,
    LINE,
    RAW_COLUMNS,
    ROW_INDEX,
    header_key,
)


@dataclass(frozen=True)
class HeaderMapping:
    """Which input column feeds which lead column, and what was left out."""

    columns: dict[str, str]  # lead column -> input header
    custom_fields: dict[str, str] = field(default_factory=dict)  # custom key -> input header
    unknown: list[str] = field(default_factory=list)
    repeated: list[str] = field(default_factory=list)  # headers that map to an already-mapped field

    @property
    def has_email(self) -> bool:
        return "email" in self.columns

    def warnings(self) -> list[str]:
        """Human-readable notes about the columns that were not used."""
        notes = []
        if self.unknown:
            notes.append("ignored unknown columns: " + ", ".join(self.unknown))
        if self.repeated:
            notes.append("ignored repeated columns: " + ", ".join(self.repeated))
        return notes


def map_headers(headers: list[str], *, keep_unknown: bool = False) -> HeaderMapping:
    """Match headers case-insensitively, ignoring spaces, `_` and `-`; the first match wins."""
    columns: dict[str, str] = {}
    custom: dict[str, str] = {}
    unknown: list[str] = []
    repeated: list[str] = []
    for header in headers:
        stripped = header.strip()
        if stripped.lower().startswith(CUSTOM_FIELD_PREFIX):
            key = stripped[len(CUSTOM_FIELD_PREFIX) :].strip()
            if key and key not in custom:
                custom[key] = header
            else:
                repeated.append(header)
            continue
        column = HEADER_TO_COLUMN.get(header_key(header))
        if column is None:
            if keep_unknown and stripped and stripped not in custom:
                custom[stripped] = header
            else:
                unknown.append(header)
        elif column in columns:
            repeated.append(header)
        else:
            columns[column] = header
    return HeaderMapping(columns, custom, unknown, repeated)


def _json_member(key: str, header: str) -> pl.Expr:
    """`"key":"value"` for a non-empty cell, else null (JSON-escaped by Polars)."""
    value = pl.col(header).str.strip_chars()
    member = (
        pl.struct(value.alias(key)).struct.json_encode().str.strip_prefix("{").str.strip_suffix("}")
    )
    return pl.when(value.str.len_bytes() > 0).then(member)


def custom_fields_expr(custom: dict[str, str]) -> pl.Expr:
    """A JSON object text gathering the `customFields.<key>` columns, null when all are empty."""
    members = pl.concat_str(
        [_json_member(k, h) for k, h in custom.items()], separator=",", ignore_nulls=True
    )
    return pl.when(members.str.len_bytes() > 0).then(pl.format("{{{}}}", members))


def to_raw_frame(table: pl.DataFrame, mapping: HeaderMapping) -> pl.DataFrame:
    """Select and rename a text table into the canonical raw frame (row index, RAW_COLUMNS, the
    custom-field extras, input error, and the file line when the table has one)."""
    exprs: list[pl.Expr] = []
    for column in RAW_COLUMNS:
        header = mapping.columns.get(column)
        expr = pl.col(header).cast(pl.String) if header is not None else pl.lit(None, pl.String)
        exprs.append(expr.alias(column))
    if mapping.custom_fields:
        exprs.append(custom_fields_expr(mapping.custom_fields).alias("custom_fields_extra"))
    else:
        exprs.append(pl.lit(None, pl.String).alias("custom_fields_extra"))
    input_error = pl.col(INPUT_ERROR) if INPUT_ERROR in table.columns else pl.lit(None, pl.String)
    exprs.append(input_error.alias(INPUT_ERROR))
    row_index = pl.col(ROW_INDEX) if ROW_INDEX in table.columns else pl.int_range(pl.len())
    exprs.insert(0, row_index.cast(pl.Int64).alias(ROW_INDEX))
    if LINE in table.columns:  # a file row's line, carried to the outcome
        exprs.append(pl.col(LINE).cast(pl.Int64))
    return table.select(exprs)
