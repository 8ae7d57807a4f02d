"""The HTTP API's settings: from the environment, overridable by `leads api` options."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final

RATE_LIMIT_ENV: Final = "LEADS_API_RATE_LIMIT"
RATE_WINDOW_ENV: Final = "LEADS_API_RATE_WINDOW"
DEFAULT_RATE_LIMIT: Final = 100  # requests per window and API key (SPEC section 9)
DEFAULT_RATE_WINDOW_SECONDS: Final = 60.0
MAX_LEADS_PER_REQUEST: Final = 1000  # SPEC section 8: more is a 400
MAX_LEAD_IDS_PER_REQUEST: Final = 1000
DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 100
BASE_PATH: Final = "/api/v1"


def _env_number(name: str, default: float, cast: type) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = cast(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {raw!r}")
    return value


@dataclass(frozen=True)
class ApiSettings:
    """What one API process needs: the database and the rate limit (shared through it)."""

    database_url: str | None = None  # None: DATABASE_URL, else the embedded server
    rate_limit: int = DEFAULT_RATE_LIMIT
    rate_window_seconds: float = DEFAULT_RATE_WINDOW_SECONDS

    def __post_init__(self) -> None:
        if self.rate_limit < 1:
            raise ValueError(f"the rate limit must be at least 1 request, got {self.rate_limit}")
        if self.rate_window_seconds <= 0:
            raise ValueError(f"the rate window must be positive, got {self.rate_window_seconds}")

    @classmethod
    def from_env(cls, database_url: str | None = None) -> ApiSettings:
        """`LEADS_API_RATE_LIMIT` (requests, default 100) per `LEADS_API_RATE_WINDOW` seconds
        (default 60)."""
        return cls(
            database_url=database_url,
            rate_limit=int(_env_number(RATE_LIMIT_ENV, DEFAULT_RATE_LIMIT, int)),
            rate_window_seconds=float(
                _env_number(RATE_WINDOW_ENV, DEFAULT_RATE_WINDOW_SECONDS, float)
            ),
        )
