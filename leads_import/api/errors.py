"""Every error body is `{"error": message, "code": snake_case, "details": {...}}` (SPEC 9)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from leads_import.api.models import ErrorBody
from leads_import.errors import ImportRequestError

MAX_VALIDATION_ERRORS: Final = 100
INTERNAL_ERROR: Final = "internal_error"
DATABASE_UNAVAILABLE: Final = "database_unavailable"


class ApiError(Exception):
    """A request-level failure of the API with its status, code and details."""

    def __init__(
        self, status: int, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = details or {}


def error_body(message: str, code: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": message, "code": code, "details": details or {}}


def internal_error_body() -> dict[str, Any]:
    return error_body("internal server error", INTERNAL_ERROR)


def database_unavailable_body(reason: str = "unreachable") -> dict[str, Any]:
    """503: the database does not answer (`reason`: unreachable, timeout or error)."""
    return error_body(
        "the database does not answer; try again shortly",
        DATABASE_UNAVAILABLE,
        {"database": reason},
    )


def error_response(
    status: int, message: str, code: str, details: dict[str, Any] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(message, code, details), status_code=status)


def field_path(loc: tuple[Any, ...]) -> str:
    """`("body", "leads", 3, "firstName")` -> `leads[3].firstName`; query and path parameters
    by their name."""
    parts = list(loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc)
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "body"


def _validation_item(error: dict[str, Any]) -> dict[str, Any]:
    loc = tuple(error.get("loc", ()))
    item: dict[str, Any] = {
        "field": field_path(loc),
        "message": error.get("msg", "invalid value"),
        "type": error.get("type", "value_error"),
        "in": loc[0] if loc and loc[0] in ("body", "query", "path", "header") else "body",
    }
    # The index of the lead (or lead id) the error is about: `leads[3].x` -> 3.
    if len(loc) >= 3 and loc[0] == "body" and isinstance(loc[2], int):
        item["index"] = loc[2]
    return item


def validation_error_response(errors: list[dict[str, Any]]) -> JSONResponse:
    """422 for malformed JSON or wrong field types, naming the field (and the lead's index)."""
    if any(e.get("type") == "json_invalid" for e in errors):
        error = next(e for e in errors if e.get("type") == "json_invalid")
        context = error.get("ctx") or {}
        details: dict[str, Any] = {}
        position = (error.get("loc") or ("body",))[-1]
        if isinstance(position, int):
            details["position"] = position
        if context.get("error"):
            details["reason"] = str(context["error"])
        return error_response(422, "malformed JSON in the request body", "invalid_json", details)
    items = [_validation_item(e) for e in errors[:MAX_VALIDATION_ERRORS]]
    first = items[0] if items else {"field": "body", "message": "invalid request"}
    message = f"{first['field']}: {first['message']}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    details = {"errors": items, "count": len(errors)}
    if "index" in first:
        details["field"], details["index"] = first["field"], first["index"]
    else:
        details["field"] = first["field"]
    return error_response(422, message, "validation_error", details)


_HTTP_CODES: Final = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limit_exceeded",
    500: INTERNAL_ERROR,
    503: "service_unavailable",
}


class AllowedMethods:
    """The methods served at each path, for a 405's `Allow` (Starlette's names only the first
    route's, and each method of an endpoint here is a route of its own)."""

    def __init__(self, routes: Iterable[tuple[str, Iterable[str]]]) -> None:
        self._routes = [(compile_path(path)[0], set(methods)) for path, methods in routes]

    def at(self, path: str) -> list[str]:
        methods: set[str] = set()
        for pattern, served in self._routes:
            if pattern.match(path):
                methods |= served
        order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        return sorted(methods, key=lambda m: (order.index(m) if m in order else len(order), m))


def install_error_handlers(app: FastAPI, allowed: AllowedMethods) -> None:
    """Our errors, the engine's request errors, FastAPI's validation errors, Starlette's HTTP
    errors (unknown route, wrong method) and anything unexpected all answer with the error body
    (none of FastAPI's `{"detail": …}` bodies is left)."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.code, exc.details)

    @app.exception_handler(ImportRequestError)
    async def _import_error(request: Request, exc: ImportRequestError) -> JSONResponse:
        return error_response(exc.http_status, str(exc), exc.code, exc.details())

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error_response(list(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        details = exc.detail if isinstance(exc.detail, dict) else {}
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path}"
        headers = dict(exc.headers or {})
        if exc.status_code == 405 and message == "Method Not Allowed":
            methods = allowed.at(request.url.path)
            message = f"method {request.method} is not allowed on {request.url.path}"
            details = {"allowed": methods}
            headers["Allow"] = ", ".join(methods)
        response = error_response(exc.status_code, message, code, details)
        for name, value in headers.items():
            response.headers[name] = value
        return response

    # Starlette runs this one outermost (ServerErrorMiddleware) and re-raises, so the traceback
    # is still logged; the gate answers an endpoint's failure itself, with the rate headers.
    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(internal_error_body(), status_code=500)


ERROR_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    401: {"model": ErrorBody, "description": "No API key, or an unknown or revoked one."},
    422: {
        "model": ErrorBody,
        "description": "Malformed JSON (`invalid_json`) or a parameter or field of the wrong "
        "type (`validation_error`, naming the field and the lead's index).",
    },
    429: {
        "model": ErrorBody,
        "description": "Rate limit exceeded (`rate_limit_exceeded`); see `Retry-After`.",
    },
    413: {"model": ErrorBody, "description": "A body over 64 MiB (`payload_too_large`)."},
    500: {
        "model": ErrorBody,
        "description": "An unexpected failure (`internal_error`); nothing was written.",
    },
    503: {
        "model": ErrorBody,
        "description": "The database does not answer (`database_unavailable`); retry later.",
    },
}
