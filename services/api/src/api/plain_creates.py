"""POST /products, when it is a plain create, answered ahead of FastAPI's routing.

A profile of POST /products under load put about half of a worker's CPU in FastAPI's per-request
machinery (router layers, exception and exit-stack wrappers, dependency solving with its query
parsing, the bearer dependency, body reading) and 7 % in the batched INSERT (bench/README.md). For a create
that FastAPI would accept as it is, none of that machinery decides anything: the path exactly
/products without a query, `Authorization: Bearer <a valid write token>`, `Content-Type:
application/json` and a small body that json.loads and NewProduct accept. Such a create gets the
route's own answer (routes.products.answer_create: the same batched INSERT, 201 with the row and
Location, or 409). Every other request (no token or a wrong one, another content type, a body
FastAPI must refuse, anything unusual) goes on to FastAPI with its body as it came, so its answers
(401, 400, 422, …) stay FastAPI's own; the route stays declared there for the docs.
"""

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import WriteTokens
from api.models import NewProduct
from api.point_reads import RouteTemplate, answer_ahead_of_fastapi
from api.routes.products import answer_create

CREATE_PATH = "/products"
ROUTE = RouteTemplate(CREATE_PATH)
# A create's body is a name of at most 200 characters and a brand id; a larger one is unusual.
MAX_BODY = 4096


def plain_create_head(scope: Scope, tokens: WriteTokens) -> bool:
    """Whether the request line and headers are those of a create FastAPI would take as it is:
    authorized, with a JSON body of a known, small length. The body is looked at later."""
    # uvicorn puts root_path (/api) in front of the path nginx forwarded.
    if scope["path"].removeprefix(scope.get("root_path", "")) != CREATE_PATH or scope["query_string"]:
        return False
    authorization = content_type = length = None
    for name, value in scope["headers"]:
        # The first of each, as Starlette's request.headers reads them.
        if name == b"authorization" and authorization is None:
            authorization = value
        elif name == b"content-type" and content_type is None:
            content_type = value
        elif name == b"content-length" and length is None:
            length = value
        elif name == b"transfer-encoding":
            return False
    if content_type != b"application/json" or length is None or not length.isdigit():
        return False
    if not 0 < int(length) <= MAX_BODY or authorization is None or not authorization.startswith(b"Bearer "):
        return False
    # What FastAPI's HTTPBearer hands the route's dependency (auth.require_write_token).
    return tokens.accepts(authorization[len(b"Bearer ") :].decode("latin-1").strip())


def new_product(body: bytes) -> NewProduct | None:
    """The body as FastAPI reads and validates it (json.loads, then the model), or None when FastAPI
    would refuse it: its error is FastAPI's to give."""
    try:
        return NewProduct.model_validate(json.loads(body))
    except (ValueError, RecursionError):  # bad JSON or UTF-8, a ValidationError, nesting too deep
        return None


class PlainCreates:
    """ASGI middleware (app.add_middleware): answers plain creates, passes on the rest."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not plain_create_head(scope, scope["app"].state.write_tokens)
        ):
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        body = b""
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":  # the client went away: FastAPI's to handle
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        new = new_product(body) if message["type"] == "http.request" else None
        if new is None:
            await self.app(scope, replay(received, receive), send)
            return
        await self.answer(scope, send, new)

    async def answer(self, scope: Scope, send: Send, new: NewProduct) -> None:
        await answer_ahead_of_fastapi(scope, send, ROUTE, answer_create(scope["app"].state, new, scope))


def replay(received: list[Message], receive: Receive) -> Receive:
    """`receive` as if nothing had been read: the messages already taken first, then the rest."""
    pending = list(received)

    async def receive_again() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return receive_again
