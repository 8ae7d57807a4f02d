"""Which failures are worth another attempt: lost connections, serialization failures and
deadlocks, from psycopg2 or a SQLAlchemy-driven source. Never bad requests (ImportRequestError),
plan-limit rejections, data or integrity errors."""

from __future__ import annotations

import psycopg2
import sqlalchemy.exc

# psycopg2's TransactionRollbackError (serialization failure, deadlock) is an OperationalError.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    psycopg2.OperationalError,
    psycopg2.InterfaceError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
)


def _connection_lost(error: BaseException) -> bool:
    """psycopg2 raises the bare DatabaseError, with no SQLSTATE, when the connection breaks
    during COMMIT ("server closed the connection unexpectedly"). A retry is safe: a load whose
    COMMIT did go through finds its own run and returns its report (db.runs.replayed_report)."""
    return type(error) is psycopg2.DatabaseError and getattr(error, "pgcode", None) is None


def is_transient(error: BaseException | None) -> bool:
    """Whether an error (or one it was raised from) is a transient database failure."""
    while error is not None:
        if isinstance(error, TRANSIENT_ERRORS) or _connection_lost(error):
            return True
        error = error.__cause__
    return False
