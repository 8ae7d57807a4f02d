"""Where a file import's bytes come from: a local path, or an http(s) URL downloaded first."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx

from leads_import.errors import UnreadableSourceError

DOWNLOAD_CHUNK_BYTES = 1 << 20


def is_url(source: str) -> bool:
    """Whether `source` is an http(s) URL (else it is a local path)."""
    return urlparse(source).scheme in ("http", "https")


def fetch_to(source: str, folder: Path) -> str:
    """The path to read: `source` itself, or the URL downloaded into `folder` under its own
    file name (so the extension still picks the reader)."""
    if not is_url(source):
        return source
    name = Path(unquote(urlparse(source).path)).name or "download"
    target = folder / f"download-{name}"
    try:
        with httpx.stream("GET", source, follow_redirects=True, timeout=60) as response:
            response.raise_for_status()
            with target.open("wb") as out:
                for chunk in response.iter_bytes(DOWNLOAD_CHUNK_BYTES):
                    out.write(chunk)
    except httpx.HTTPStatusError as error:
        raise UnreadableSourceError(
            f"cannot download {source}: HTTP {error.response.status_code}"
        ) from None
    except httpx.TransportError as error:
        raise UnreadableSourceError(f"cannot download {source}: {error}") from None
    return str(target)
