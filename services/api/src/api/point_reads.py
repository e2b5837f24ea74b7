"""GET /products/{id}, /brands/{id} and the brand list, the api's busiest routes, answered ahead of
FastAPI's routing.

A profile of GET /products/{id} under load put about two thirds of a worker's CPU in the framework's
per-request machinery (routing through the included routers, exception and exit-stack wrappers,
dependency solving, response classes) and under 5 % in reading the row (bench/README.md). For an
id that FastAPI would take as it is — ASCII digits, no leading zero, within int4 — none of that
machinery decides anything: the answer is the row's JSON or the 404, from the same FreshKeyedReads
the routes use. Every other request (another method or path, an id FastAPI must refuse with 422 or
read differently) goes on to FastAPI unchanged, and the routes stay declared there for the docs.
"""

from collections.abc import Awaitable
from typing import NamedTuple

from stack_common.database import DATABASE_UNAVAILABLE
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import after_database_failure, error_response
from api.models import INT4_MAX


class RouteTemplate(NamedTuple):
    """What the request metrics read of scope["route"] (its template), for the reads answered here,
    ahead of the router that would set it."""

    path: str


# path prefix → (the app.state FreshKeyedReads, what the 404 calls it, the route it stands for)
POINT_READS = {
    "/products/": ("product_by_id", "product", RouteTemplate("/products/{product_id}")),
    "/brands/": ("brand_by_id", "brand", RouteTemplate("/brands/{brand_id}")),
}
# The route each FreshKeyedReads answers for, looked up per request by point_read's first value.
ROUTE_OF_READS = {reads: route for reads, _, route in POINT_READS.values()}
# The whole brand list (the app.state FreshReads brands_json): its path exactly, as FastAPI's route
# takes it whatever the query string; "/brands/" and the rest stay FastAPI's.
BRAND_LIST = RouteTemplate("/brands")
MAX_DIGITS = len(str(INT4_MAX))
JSON_HEADERS = [(b"content-type", b"application/json")]


def point_read(path: str) -> tuple[str, str, int] | None:
    """(reads, what, id) when `path` is a point read with a canonical id, else None."""
    for prefix, (reads, what, _) in POINT_READS.items():
        if path.startswith(prefix):
            digits = path[len(prefix) :]
            if digits.isascii() and digits.isdigit() and digits[0] != "0" and len(digits) <= MAX_DIGITS:
                row_id = int(digits)
                if row_id <= INT4_MAX:
                    return reads, what, row_id
    return None


class PointReads:
    """ASGI middleware (app.add_middleware): answers canonical point reads, passes on the rest."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            # uvicorn puts root_path (/api) in front of the path nginx forwarded.
            path = scope["path"].removeprefix(scope.get("root_path", ""))
            if path == BRAND_LIST.path:
                await answer_ahead_of_fastapi(scope, send, BRAND_LIST, scope["app"].state.brands_json.get())
                return
            found = point_read(path)
            if found is not None:
                await self.answer(scope, send, *found)
                return
        await self.app(scope, receive, send)

    async def answer(self, scope: Scope, send: Send, reads: str, what: str, row_id: int) -> None:
        route = ROUTE_OF_READS[reads]

        async def row_or_404() -> bytes | Response:
            body = await getattr(scope["app"].state, reads).get(row_id)
            return body if body is not None else error_response(404, f"{what} {row_id} does not exist")

        await answer_ahead_of_fastapi(scope, send, route, row_or_404())


async def answer_ahead_of_fastapi(
    scope: Scope, send: Send, route: RouteTemplate, answer: Awaitable[bytes | Response]
) -> None:
    """Sends what `answer` gives (JSON already encoded, as a 200; or a response), for the middlewares
    that answer ahead of FastAPI's routing (this module, api.page_reads, api.plain_creates):
    `route` labels the request's metrics, as FastAPI's router would, and a database failure gets the
    503 the api's exception handler gives (after_database_failure), since those handlers sit further
    in than these middlewares."""
    scope["route"] = route
    try:
        result = await answer
    except DATABASE_UNAVAILABLE as exc:
        result = await after_database_failure(scope["app"].state.pool, exc)
    if isinstance(result, bytes):
        headers = [*JSON_HEADERS, (b"content-length", b"%d" % len(result))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": result})
    else:
        await result(scope, no_body, send)


async def no_body() -> dict:
    """The `receive` a response is sent with once the request needs nothing more from the client."""
    return {"type": "http.request", "body": b"", "more_body": False}
