"""Write the big hostile inputs (too large to check in) into a folder, at test time.

`uv run python tests/data/hostile/make_big.py DIR` writes them all into DIR; the tests call
`write_big(name, folder)` for one at a time. Every file is built from a few repeated pieces, so
writing one takes well under a second.
"""

from __future__ import annotations

import gzip
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Final

MB: Final = 1024 * 1024
WIDE_COLUMNS: Final = 100_000
DEEP_LEVELS: Final = 100_000


def _field_10mb(path: Path) -> None:
    """A 10 MB notes field (quoted, with newlines and quotes inside) between two good rows."""
    chunk = 'lorem "ipsum"\n' * 16
    body = (chunk * (10 * MB // len(chunk) + 1))[: 10 * MB].replace('"', '""')
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("email,notes\nann@ex.com,short\n")
        out.write(f'big@ex.com,"{body}"\n')
        out.write("bob@ex.com,short\n")


def _field_10mb_unquoted_email(path: Path) -> None:
    """A 10 MB email cell with no delimiter, no quote and no newline inside."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("email,first_name\nann@ex.com,Ann\n")
        out.write("x" * (10 * MB) + "@ex.com,Big\n")


def _columns_100k(path: Path) -> None:
    """100,000 columns; the email column is the last one; two data rows."""
    names = ",".join(f"c{i}" for i in range(WIDE_COLUMNS - 1))
    cells = ",".join("v" for _ in range(WIDE_COLUMNS - 1))
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(f"{names},email\n{cells},ann@ex.com\n{cells},bob@ex.com\n")


def _columns_100k_no_email(path: Path) -> None:
    """100,000 columns and no email column among them."""
    names = ",".join(f"c{i}" for i in range(WIDE_COLUMNS))
    path.write_text(f"{names}\n" + ",".join("v" * 3 for _ in range(WIDE_COLUMNS)) + "\n")


def _deep_json_custom_fields(path: Path) -> None:
    """A customFields object nested 100,000 levels deep, and a good row."""
    deep = '{"a":' * DEEP_LEVELS + "1" + "}" * DEEP_LEVELS
    path.write_text(
        f'email,customFields\ndeep@ex.com,"{deep.replace(chr(34), 2 * chr(34))}"\nok@ex.com,{{}}\n'
    )


def _deep_json_file(path: Path) -> None:
    """A JSON array file whose first object's customFields is nested 100,000 levels deep."""
    deep = '{"a":' * DEEP_LEVELS + "1" + "}" * DEEP_LEVELS
    path.write_text(f'[{{"email":"deep@ex.com","customFields":{deep}}},{{"email":"ok@ex.com"}}]')


def _gzip_bomb(path: Path) -> None:
    """A small .csv.gz inflating to 100 MB: one NUL-filled line longer than a read chunk."""
    with gzip.open(path, "wb", compresslevel=9) as out:
        out.write(b"email,notes\nann@ex.com,")
        zeros = b"\x00" * MB
        for _ in range(100):
            out.write(zeros)
        out.write(b"\nbob@ex.com,ok\n")


def _binary_20mb(path: Path) -> None:
    """20 MB of pseudo-random bytes named .csv (no newline is guaranteed anywhere)."""
    block = bytes((i * 7919 + 13) % 251 for i in range(MB))
    with path.open("wb") as out:
        for _ in range(20):
            out.write(block)


BIG: Final[dict[str, Callable[[Path], None]]] = {
    "field_10mb.csv": _field_10mb,
    "field_10mb_email.csv": _field_10mb_unquoted_email,
    "columns_100k.csv": _columns_100k,
    "columns_100k_no_email.csv": _columns_100k_no_email,
    "deep_custom_fields.csv": _deep_json_custom_fields,
    "deep_custom_fields.json": _deep_json_file,
    "gzip_bomb.csv.gz": _gzip_bomb,
    "binary_20mb.csv": _binary_20mb,
}


def write_big(name: str, folder: Path) -> Path:
    """Write the big input `name` into `folder`; return its path."""
    path = folder / name
    BIG[name](path)
    return path


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    target.mkdir(parents=True, exist_ok=True)
    for big in BIG:
        print(write_big(big, target))
