"""Request metrics for every route (stack_common.metrics), as a pure ASGI middleware.

Pure ASGI rather than Starlette's BaseHTTPMiddleware, which would run each request in a task of its
own. The route label is the matched route's template (`/products/{product_id}`), which Starlette's
router leaves in the scope; a path that matched no route counts as "unmatched".
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from stack_common.metrics import UNMATCHED, HttpMetrics


class RequestMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.metrics = HttpMetrics()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # An exception that escapes the app is answered 500 by Starlette's outermost middleware.
        status = 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = self.metrics.started()
        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            route = scope.get("route")
            template = route.path if route is not None else UNMATCHED
            self.metrics.finished(started, template, scope["method"], status)
