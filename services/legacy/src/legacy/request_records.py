"""What legacy records of every request, in one middleware: its X-Request-ID (in, on every log
line and back out), one audit line per write attempt (stack_common.request_ids; the service has no
writes, so the line records who tried one), and with metrics on its observation
(stack_common.metrics). The api's request_records.py does the same for the api.

One middleware, not one per record: the audit line and the metrics both need the status the client
got, and every middleware is one more coroutine around each request (0.3-0.8 µs per request
in-process against the two it replaces; bench/README.md, "One middleware for legacy's records").
Outermost, so it sees every answer as the client gets it, json_errors' included.

The route label is the matched resource's template (`/products/{product_id}`); a path that matched
no route counts as "unmatched".
"""

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from stack_common.metrics import UNMATCHED, HttpMetrics
from stack_common.metrics_flush import FLUSHER
from stack_common.request_ids import REQUEST_ID, WRITE_METHODS, log_write, request_id_from


def request_records(metrics: HttpMetrics | None) -> Middleware:
    """The middleware; `metrics` is None with metrics off."""

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = metrics.started() if metrics is not None else 0.0
        request_id = request_id_from(request.headers.get("X-Request-ID"))
        method = request.method
        is_write = method in WRITE_METHODS
        if request_id is None and not is_write and metrics is None:
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
                log_write(client, method, request.path, status, request_id)
            REQUEST_ID.reset(token)
            if metrics is not None:
                resource = request.match_info.route.resource
                template = resource.canonical if resource is not None else UNMATCHED
                metrics.finished(started, template, method, status)

    return record


async def write_metrics(app: web.Application) -> None:
    """On cleanup, once the last requests are answered and the pool is closed: their numbers go to
    the files now rather than at the next flush, which a stopping worker would not wait for."""
    FLUSHER.flush()
