"""Request metrics for every route (stack_common.metrics), as the outermost middleware.

Outermost, so it sees every answer as the client gets it, the JSON errors included. The route label
is the matched resource's template (`/products/{product_id}`); a path that matched no route counts
as "unmatched".
"""

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from stack_common.metrics import FLUSHER, UNMATCHED, HttpMetrics


def request_metrics() -> Middleware:
    metrics = HttpMetrics()

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = metrics.started()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:  # the redirects and successes json_errors passes on
            status = exc.status
            raise
        finally:
            resource = request.match_info.route.resource
            template = resource.canonical if resource is not None else UNMATCHED
            metrics.finished(started, template, request.method, status)

    return record


async def write_metrics(app: web.Application) -> None:
    """On cleanup, once the last requests are answered and the pool is closed: their numbers go to
    the files now rather than at the next flush, which a stopping worker would not wait for."""
    FLUSHER.flush()
