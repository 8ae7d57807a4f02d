"""Every error body is `{"error": message, "code": snake_case, "details": {...}}` (SPEC 9)."""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from leads_import.api.models import ErrorBody
from leads_import.errors import ImportRequestError

MAX_VALIDATION_ERRORS: Final = 100


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
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def install_error_handlers(app: FastAPI) -> None:
    """Our errors, the engine's request errors, FastAPI's validation errors and Starlette's
    HTTP errors (unknown route, wrong method) all answer with the error body."""

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
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path}"
        response = error_response(exc.status_code, message, code)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response


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
    500: {"model": ErrorBody, "description": "An unexpected failure; nothing was written."},
}
