"""One JSON error shape for every failure: {"error": <code>, "detail": <message or list>}."""

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from stack_common.database import DATABASE_UNAVAILABLE, FairPool
from starlette.exceptions import HTTPException
from starlette.routing import Match

log = logging.getLogger(__name__)

ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    422: "invalid_request",
    500: "internal_error",
    503: "database_unavailable",
}
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# How long a client should wait before retrying while the database is away.
RETRY_AFTER_SECONDS = 1


class Problem(BaseModel):
    """One invalid part of a request."""

    loc: list[str | int] = Field(description='Where: e.g. ["query", "limit"] or ["body", "brand_id"]')
    msg: str
    type: str


class Error(BaseModel):
    """The body of every error response."""

    error: str = Field(description="Stable machine-readable code, e.g. not_found, invalid_request")
    detail: str | list[Problem] = Field(description="A message, or for invalid requests the list of problems")


# Declared on every route that reads the database or takes parameters, so the OpenAPI document names
# our Error model (not FastAPI's default HTTPValidationError) for what those routes can answer.
INVALID = {422: {"model": Error, "description": "Invalid path, query or body"}}
UNAVAILABLE = {503: {"model": Error, "description": "The database is unreachable; retry shortly"}}
# nginx answers any route with this once a client passes its per-client rate or connection limit,
# so the document says so for every operation (FastAPI(responses=...)).
TOO_MANY_REQUESTS = {
    429: {
        "model": Error,
        "description": "Too many requests or connections from this client; wait as Retry-After says",
        "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
    }
}


def error_response(
    status: int, detail: str | list[dict[str, Any]], headers: Mapping[str, str] | None = None
) -> JSONResponse:
    body = {"error": ERROR_CODES.get(status, "error"), "detail": detail}
    return JSONResponse(body, status_code=status, headers=headers)


def database_unavailable_response() -> JSONResponse:
    return error_response(
        503, "the database is unavailable; retry shortly", {"Retry-After": str(RETRY_AFTER_SECONDS)}
    )


async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
    headers = exc.headers
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": allowed_methods(request)}
    return error_response(exc.status_code, str(exc.detail), headers)


def allowed_methods(request: Request) -> str:
    # Starlette's own Allow header names only the first route that matched the path, so a path
    # served by two routes (GET and DELETE /products/{id}) would advertise one method. Asking every
    # route (through its public matches(), which also sees into included routers) for each method
    # finds them all; it runs for 405s only.
    allowed = []
    for method in HTTP_METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return ", ".join(allowed)


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # Keep location, message and type; drop the echoed input, which may be large.
    problems = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    return error_response(422, problems)


async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    return await after_database_failure(request.app.state.pool, exc)


async def after_database_failure(pool: FairPool, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s: %s", type(exc).__name__, exc)
    # After one failure every idle connection is suspect (the server may have restarted): replace
    # them all on their next use, so recovery costs one failed request, not one per connection.
    await pool.expire_connections()
    return database_unavailable_response()


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    # Starlette logs the traceback itself after this handler answers.
    return error_response(500, "internal server error")


def install(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    for exc_type in DATABASE_UNAVAILABLE:
        app.add_exception_handler(exc_type, database_unavailable)
    # Anything unexpected is still a JSON error, in the same shape.
    app.add_exception_handler(Exception, internal_error)
