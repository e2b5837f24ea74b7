"""JSON errors in the api service's shape: {"error": <code>, "detail": <message>}.

The classic example answered bare status codes; the codes stay, a body is added. Every failure
goes through the middleware below, so no route ever answers HTML or plain text.
"""

import logging

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from stack_common.database import DATABASE_UNAVAILABLE

from legacy.db import POOL
from legacy.responses import json_response

log = logging.getLogger(__name__)

ERROR_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    500: "internal_error",
    503: "database_unavailable",
}


def error_response(status: int, detail: str) -> web.Response:
    return json_response({"error": ERROR_CODES.get(status, "error"), "detail": detail}, status=status)


def http_error(exc: web.HTTPException) -> web.Response:
    # aiohttp's default text is "<status>: <reason>"; the bare reason ("Not Found") is what the
    # api service says for the same error, so a client sees the same body from both.
    detail = exc.text if exc.text and exc.text != f"{exc.status}: {exc.reason}" else exc.reason
    response = error_response(exc.status, detail)
    # Keep what the exception carries for the client, e.g. Allow on 405.
    for name, value in exc.headers.items():
        if name not in (hdrs.CONTENT_TYPE, hdrs.CONTENT_LENGTH):
            response.headers[name] = value
    return response


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return http_error(exc)
    except DATABASE_UNAVAILABLE:
        # Every idle connection is now suspect (the server may have restarted): replace them all
        # on next use, so recovery costs one failed request, not one per pooled connection.
        await request.app[POOL].expire_connections()
        return error_response(503, "the database is unavailable; retry shortly")
    except Exception:
        # A bug: logged with its traceback, answered in the same shape, never with a stack trace.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal server error")
