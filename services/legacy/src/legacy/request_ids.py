"""X-Request-ID in, on every log line and back out; one audit line per write attempt
(stack_common.request_ids). The service has no writes: the audit line records who tried one."""

from aiohttp import web
from aiohttp.typedefs import Handler
from stack_common.request_ids import REQUEST_ID, WRITE_METHODS, log_write, request_id_from


@web.middleware
async def request_ids(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request_id_from(request.headers.get("X-Request-ID"))
    is_write = request.method in WRITE_METHODS
    if request_id is None and not is_write:
        return await handler(request)
    token = REQUEST_ID.set(request_id)
    status = 500  # what the client gets if the handler fails past json_errors
    try:
        response = await handler(request)
        status = response.status
        if request_id is not None:
            response.headers["X-Request-ID"] = request_id
        return response
    except web.HTTPException as exc:  # below 400 (json_errors answers the rest): a redirect
        status = exc.status
        if request_id is not None:
            exc.headers["X-Request-ID"] = request_id
        raise
    finally:
        if is_write:
            client = request.headers.get("X-Real-IP") or request.remote
            log_write(client, request.method, request.path, status, request_id)
        REQUEST_ID.reset(token)
