"""Request-level failures (SPEC section 8): each writes nothing, with HTTP status and exit code."""

from __future__ import annotations


class ImportRequestError(Exception):
    """A failure of the whole request, as opposed to a row error."""

    http_status = 400
    exit_code = 2
    code = "bad_request"

    def details(self) -> dict[str, object]:
        return {}

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        # Rebuild from the constructor's arguments, so the error survives pickling (Prefect states).
        return type(self), getattr(self, "_init_args", self.args)


class EmptyInputError(ImportRequestError):
    code = "no_leads"

    def __init__(self, what: str = "no leads in the request") -> None:
        super().__init__(what)


class NoEmailColumnError(ImportRequestError):
    code = "no_email_column"

    def __init__(
        self, headers: list[str], where: str | None = None, hint: str | None = None
    ) -> None:
        self.headers = headers
        self._init_args = (headers, where, hint)
        shown = ", ".join(repr(h) for h in headers[:20]) or "none"
        of = f" of {where}" if where else ""
        super().__init__(
            f"no email column among the headers{of} ({shown})" + (f"; {hint}" if hint else "")
        )

    def details(self) -> dict[str, object]:
        return {"headers": self.headers[:100]}


class UnreadableSourceError(ImportRequestError):
    code = "unreadable_source"


class OutcomesPathError(ImportRequestError):
    """`--outcomes PATH` cannot be written (checked before the input is read)."""

    code = "unwritable_outcomes"

    def __init__(self, path: str, why: str) -> None:
        self.path = path
        self._init_args = (path, why)
        super().__init__(f"cannot write the outcomes file {path}: {why}")

    def details(self) -> dict[str, object]:
        return {"path": self.path}


def check_outcomes_path(path: str | None) -> None:
    """Raise OutcomesPathError unless a file can be written at `path`: its folder exists and
    is writable (the file is written beside it first, then moved), and it is no directory."""
    import os
    from pathlib import Path

    if not path:
        return
    target = Path(path)
    folder = target.parent
    if target.is_dir():
        raise OutcomesPathError(path, "it is a directory")
    if not folder.exists():
        raise OutcomesPathError(path, f"no such directory {folder}")
    if not folder.is_dir():
        raise OutcomesPathError(path, f"{folder} is not a directory")
    if not os.access(folder, os.W_OK | os.X_OK) or (
        target.exists() and not os.access(target, os.W_OK)
    ):
        raise OutcomesPathError(path, "permission denied")


class InvalidMappingError(ImportRequestError):
    """A malformed `--map HEADER=field`, or one naming no field."""

    code = "invalid_mapping"

    def __init__(self, message: str, fields: list[str] | None = None) -> None:
        self.fields = fields or []
        self._init_args = (message, fields)
        super().__init__(message)

    def details(self) -> dict[str, object]:
        return {"fields": self.fields}


class WorkspaceNotFoundError(ImportRequestError):
    http_status = 404
    code = "workspace_not_found"

    def __init__(self, workspace: str | int) -> None:
        self.workspace = workspace
        self._init_args = (workspace,)
        super().__init__(f"unknown workspace {workspace!r}")


class WorkspaceConflictError(ImportRequestError):
    """`leads workspace create` of a slug that exists with other values."""

    code = "workspace_exists"

    def __init__(self, slug: str, difference: str) -> None:
        self.slug, self.difference = slug, difference
        self._init_args = (slug, difference)
        super().__init__(f'workspace "{slug}" exists with {difference}; use leads workspace update')

    def details(self) -> dict[str, object]:
        return {"workspace": self.slug}


class PlanLimitExceededError(ImportRequestError):
    http_status = 402
    exit_code = 3
    code = "plan_limit_exceeded"

    def __init__(self, limit: int, active: int, would_reach: int) -> None:
        self.limit, self.active, self.would_reach = limit, active, would_reach
        self._init_args = (limit, active, would_reach)
        super().__init__(
            f"plan contact limit exceeded: the limit is {limit}, the workspace has {active} active "
            f"leads and this import would reach {would_reach}"
        )

    def details(self) -> dict[str, object]:
        return {"limit": self.limit, "active": self.active, "wouldReach": self.would_reach}


class IdempotencyKeyReusedError(ImportRequestError):
    http_status = 409
    code = "idempotency_key_reused"

    def __init__(self, key: str, run_id: int) -> None:
        self.key, self.run_id = key, run_id
        self._init_args = (key, run_id)
        super().__init__(
            f"idempotency key {key!r} was already used by run {run_id} with a different payload"
        )

    def details(self) -> dict[str, object]:
        return {"idempotencyKey": self.key, "runId": str(self.run_id)}


class SyncConflictError(ImportRequestError):
    """The sync's watermark moved while this run was reading (another run of the same sync
    committed first); this run wrote nothing, the next one goes on from the new watermark."""

    http_status = 409
    code = "sync_conflict"


class RunNotFoundError(ImportRequestError):
    http_status = 404
    code = "run_not_found"

    def __init__(self, run_id: object) -> None:
        self.run_id = run_id
        self._init_args = (run_id,)
        super().__init__(f"no run {run_id} (see leads runs)")
