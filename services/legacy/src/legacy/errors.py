"""JSON errors in the api service's shape: {"error": <code>, "detail": <message>}.

The classic example answered bare status codes; the codes stay, a body is added.
"""

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from legacy.db import DATABASE_UNAVAILABLE, POOL

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
    return web.json_response({"error": ERROR_CODES.get(status, "error"), "detail": detail}, status=status)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        detail = exc.text if exc.text and exc.text != f"{exc.status}: {exc.reason}" else exc.reason
        response = error_response(exc.status, detail)
        if exc.status == 405:
            response.headers["Allow"] = exc.headers.get("Allow", "")
        return response
    except DATABASE_UNAVAILABLE:
        # Every idle connection is now suspect (the server may have restarted): replace them all
        # on next use, so recovery costs one failed request, not one per pooled connection.
        await request.app[POOL].expire_connections()
        return error_response(503, "the database is unavailable; retry shortly")
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal error")
