"""One JSON error shape for every failure: {"error": <code>, "detail": <message or list>}."""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from api.db import DATABASE_UNAVAILABLE

ERROR_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    422: "invalid_request",
    500: "internal_error",
    503: "database_unavailable",
}


class Error(BaseModel):
    error: str
    detail: str | list[dict]


def error_response(status: int, detail: str | list[dict]) -> JSONResponse:
    code = ERROR_CODES.get(status, "error")
    return JSONResponse(Error(error=code, detail=detail).model_dump(), status_code=status)


async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
    response = error_response(exc.status_code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # Keep location, message and type; drop the echoed input, which may be large.
    problems = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    return error_response(422, problems)


async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # After one failure every idle connection is suspect (the server may have restarted): replace
    # them all on their next use, so recovery costs one failed request, not one per connection.
    await request.app.state.pool.expire_connections()
    return error_response(503, "the database is unavailable; retry shortly")


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    # Still JSON; the traceback goes to the log (the server logs the exception after this).
    return error_response(500, "internal error")


def install(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    for exc_type in DATABASE_UNAVAILABLE:
        app.add_exception_handler(exc_type, database_unavailable)
    app.add_exception_handler(Exception, internal_error)
