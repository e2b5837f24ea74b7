"""What the api records of every request, as one plain ASGI middleware: its X-Request-ID (in, on
every log line and back out), one audit line per write (stack_common.request_ids), and with metrics
on its observation (stack_common.metrics).

One middleware, not one per record: the audit line and the metrics both need the status the client
got, and each `send` wrapper costs a closure and an extra await per message. With a layer and a
wrapper each, the metrics cost twice as much CPU per request, in-process: 1.5-1.65 µs against
0.7-0.8 (bench/README.md, "What the metrics cost"). Not Starlette's BaseHTTPMiddleware, which would
run each request in a task of its own. `send` is wrapped only for requests that have an id to
return, a write to record or metrics to count.

The route label is the matched route's template (`/products/{product_id}`), which Starlette's router
(or the middlewares that answer ahead of it, api.point_reads) leaves in the scope; a path that
matched no route counts as "unmatched".
"""

from stack_common.metrics import UNMATCHED, HttpMetrics
from stack_common.request_ids import REQUEST_ID, WRITE_METHODS, log_write, request_id_from
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RequestRecords:
    """Added last (app.add_middleware), so it is the outermost but for Starlette's error middleware:
    it sees every answer as the client gets it. `metrics` is None with metrics off."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics = self.metrics
        started = metrics.started() if metrics is not None else 0.0
        raw_id = real_ip = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                raw_id = value.decode("latin-1")
            elif name == b"x-real-ip":
                real_ip = value.decode("latin-1")
        request_id = request_id_from(raw_id)
        method = scope["method"]
        is_write = method in WRITE_METHODS
        if request_id is None and not is_write and metrics is None:
            await self.app(scope, receive, send)
            return

        # What the client gets if the app fails before it answers: Starlette's outermost middleware
        # answers an exception that escapes the app with a 500.
        status = 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if request_id is not None:
                    headers = list(message.get("headers", []))
                    headers.append((b"x-request-id", request_id.encode()))
                    message = {**message, "headers": headers}
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            if is_write:
                client = real_ip or (scope["client"][0] if scope.get("client") else None)
                log_write(client, method, service_path(scope), status, request_id)
            REQUEST_ID.reset(token)
            if metrics is not None:
                route = scope.get("route")
                metrics.finished(started, route.path if route is not None else UNMATCHED, method, status)


def service_path(scope: Scope) -> str:
    """The path as the service serves it (nginx strips /api), like the legacy service's audit lines.
    uvicorn puts root_path in front of scope["path"]; older servers did not."""
    root_path, path = scope.get("root_path", ""), scope["path"]
    return path[len(root_path) :] if root_path and path.startswith(root_path) else path
