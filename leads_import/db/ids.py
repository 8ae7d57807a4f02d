"""Ids are bigint in the database and strings in JSON; anything else names nothing."""

from __future__ import annotations

from typing import Final

MAX_BIGINT: Final = 2**63 - 1
ID_PATTERN: Final = "^[1-9][0-9]{0,18}$"  # documented only: other values are a 404, not a 422


def parse_id(text: object) -> int | None:
    """The id a JSON value names (a string of digits in the bigint range), or None."""
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        value = text
    elif isinstance(text, str) and text.isascii() and text.isdigit() and len(text) <= 19:
        value = int(text)
    else:
        return None
    return value if 1 <= value <= MAX_BIGINT else None
