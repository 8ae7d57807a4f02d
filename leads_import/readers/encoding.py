"""Decide the encoding of a byte stream and transcode it to UTF-8, piece by piece.

A byte-order mark decides; else valid UTF-8; else cp1252 when it decodes; else Latin-1. The
readers parse UTF-8 only, so every other encoding is converted on the way in.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from typing import Final

UTF8: Final = "utf-8"
UTF8_BOM: Final = "utf-8-sig"
UTF16_LE: Final = "utf-16-le"
UTF16_BE: Final = "utf-16-be"
CP1252: Final = "cp1252"
LATIN1: Final = "latin-1"
_BOMS: Final = (
    (codecs.BOM_UTF8, UTF8_BOM),
    (codecs.BOM_UTF16_LE, UTF16_LE),
    (codecs.BOM_UTF16_BE, UTF16_BE),
)
_CP1252_UNDEFINED: Final = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")


def bom_encoding(head: bytes) -> str | None:
    """The encoding named by a byte-order mark at the start of `head`, if any."""
    return next((name for bom, name in _BOMS if head.startswith(bom)), None)


def cp1252_decodable(data: bytes) -> bool:
    """Whether `data` decodes as cp1252 (it has none of the five undefined bytes)."""
    return not any(byte in data for byte in _CP1252_UNDEFINED)


def decide_encoding(pieces: Iterable[bytes]) -> str:
    """The encoding of a byte stream given in order: BOM, else UTF-8, else cp1252, else Latin-1."""
    decoder = codecs.getincrementaldecoder(UTF8)()
    head: bytes | None = b""  # the first bytes, until there are enough to look for a BOM
    utf8 = cp1252 = True
    for piece in pieces:
        if head is not None:
            head += piece
            if len(head) < 3:
                continue
            piece, head = head, None
            bom = bom_encoding(piece)
            if bom is not None:
                return bom
        if utf8 and not (piece.isascii() and not decoder.getstate()[0]):
            try:
                decoder.decode(piece)
            except UnicodeDecodeError:
                utf8 = False
        cp1252 = cp1252 and cp1252_decodable(piece)
        if not utf8 and not cp1252:
            return LATIN1
    if head:
        bom = bom_encoding(head)
        if bom is not None:
            return bom
        utf8, cp1252 = _utf8_decodable(head), cp1252_decodable(head)
    elif utf8:
        try:
            decoder.decode(b"", True)
        except UnicodeDecodeError:
            utf8 = False
    return UTF8 if utf8 else CP1252 if cp1252 else LATIN1


def _utf8_decodable(data: bytes) -> bool:
    try:
        data.decode(UTF8)
    except UnicodeDecodeError:
        return False
    return True


def transcode(pieces: Iterable[tuple[bytes, bool]], encoding: str) -> Iterator[tuple[bytes, bool]]:
    """Convert (piece, is_last) pairs of a stream in `encoding` to UTF-8 pieces, dropping a BOM.

    UTF-8 passes through (`decide_encoding` checked it); after a UTF-8 BOM, which decides
    without a check, invalid bytes become U+FFFD, as they do in UTF-16.
    """
    if encoding == UTF8:
        yield from pieces
        return
    if encoding == UTF8_BOM:
        yield from _checked_utf8(_strip_bom(pieces))
        return
    codec = "utf-16" if encoding in (UTF16_LE, UTF16_BE) else encoding
    decoder = codecs.getincrementaldecoder(codec)(errors="replace")
    for piece, final in pieces:
        box = [decoder.decode(piece, final).encode(UTF8)]  # no reference kept while yielded
        del piece
        yield box.pop(), final


def _strip_bom(pieces: Iterable[tuple[bytes, bool]]) -> Iterator[tuple[bytes, bool]]:
    head: bytes | None = b""
    for piece, final in pieces:
        if head is not None:
            head += piece
            if len(head) < len(codecs.BOM_UTF8) and not final:
                continue
            piece, head = head.removeprefix(codecs.BOM_UTF8), None
        box = [piece]
        del piece
        yield box.pop(), final


def _checked_utf8(pieces: Iterable[tuple[bytes, bool]]) -> Iterator[tuple[bytes, bool]]:
    """Pass valid UTF-8 through (a sequence cut at a piece's end moves on); repair the rest."""
    checker = codecs.getincrementaldecoder(UTF8)()
    repair = None
    pending = b""
    for piece, final in pieces:
        piece = pending + piece if pending else piece
        if repair is None:
            try:
                if not piece.isascii():
                    checker.decode(piece, final)
            except UnicodeDecodeError:
                repair = codecs.getincrementaldecoder(UTF8)(errors="replace")
        if repair is not None:
            pending = b""
            box = [repair.decode(piece, final).encode(UTF8)]
        else:
            pending = checker.getstate()[0]
            checker.reset()
            box = [piece[: len(piece) - len(pending)] if pending else piece]
        del piece
        yield box.pop(), final


def to_utf8(data: bytes, encoding: str | None = None) -> tuple[bytes, str]:
    """The UTF-8 bytes of a whole buffer and the encoding it was read as (decided when None)."""
    encoding = encoding or decide_encoding([data])
    return b"".join(piece for piece, _ in transcode([(data, True)], encoding)), encoding
