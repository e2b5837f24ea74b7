"""X-Request-ID in, on every log line and back out; one audit line per write (stack_common.request_ids).

A plain ASGI middleware, not Starlette's BaseHTTPMiddleware: it costs a header scan per request, and
wraps `send` only for requests that have an id to return or a write to record.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from stack_common.request_ids import REQUEST_ID, WRITE_METHODS, log_write, request_id_from


class RequestIds:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_id = real_ip = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                raw_id = value.decode("latin-1")
            elif name == b"x-real-ip":
                real_ip = value.decode("latin-1")
        request_id = request_id_from(raw_id)
        is_write = scope["method"] in WRITE_METHODS
        if request_id is None and not is_write:
            await self.app(scope, receive, send)
            return

        status = 500  # what the client gets if the app fails before it answers

        async def send_with_id(message: Message) -> None:
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
            await self.app(scope, receive, send_with_id)
        finally:
            if is_write:
                client = real_ip or (scope["client"][0] if scope.get("client") else None)
                log_write(client, scope["method"], service_path(scope), status, request_id)
            REQUEST_ID.reset(token)


def service_path(scope: Scope) -> str:
    """The path as the service serves it (nginx strips /api), like the legacy service's audit lines.
    uvicorn puts root_path in front of scope["path"]; older servers did not."""
    root_path, path = scope.get("root_path", ""), scope["path"]
    return path[len(root_path) :] if root_path and path.startswith(root_path) else path
