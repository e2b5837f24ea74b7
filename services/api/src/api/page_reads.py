"""GET /products pages, the load test's most frequent request, answered ahead of FastAPI's routing.

As with point reads (api.point_reads), the framework's per-request machinery (routing through the
included routers, query parsing and validation, dependency solving, exception and exit-stack
wrappers) cost more than the page itself once pages were read in batches (bench/README.md). For a
query FastAPI would take as it is — only `after`, `limit` and `brand_id`, each at most once, each
ASCII digits without a leading zero (`after` may be 0) within its bounds — none of that machinery
decides anything: the answer is the route's own (routes.products.page_json, from the same batched
reads). Every other query (a value FastAPI must refuse with 422 or read differently, a parameter it
ignores, one given twice) goes on to FastAPI unchanged, and the route stays declared there.
"""

from starlette.types import ASGIApp, Receive, Scope, Send

from api.models import INT4_MAX, MAX_PAGE, PAGE_SIZE
from api.point_reads import RouteTemplate, answer_ahead_of_fastapi
from api.routes.products import PageKey, page_json

PAGES_PATH = "/products"
ROUTE = RouteTemplate(PAGES_PATH)
# Each parameter's bounds, as the route declares them.
BOUNDS = {b"after": (0, INT4_MAX), b"limit": (1, MAX_PAGE), b"brand_id": (1, INT4_MAX)}
MAX_DIGITS = len(str(INT4_MAX))


def page_key(query: bytes) -> PageKey | None:
    """The page a query string asks for, when FastAPI would read it as it is; else None."""
    values: dict[bytes, int] = {}
    for part in query.split(b"&") if query else ():
        name, _, digits = part.partition(b"=")
        if name not in BOUNDS or name in values or not digits.isdigit() or len(digits) > MAX_DIGITS:
            return None
        if digits[0:1] == b"0" and digits != b"0":  # FastAPI reads 05 as 5: its answer, not ours
            return None
        low, high = BOUNDS[name]
        value = int(digits)
        if not low <= value <= high:
            return None
        values[name] = value
    return PageKey(values.get(b"after", 0), values.get(b"limit", PAGE_SIZE), values.get(b"brand_id"))


class PageReads:
    """ASGI middleware (app.add_middleware): answers pages with a plain query, passes on the rest."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            # uvicorn puts root_path (/api) in front of the path nginx forwarded.
            and scope["path"].removeprefix(scope.get("root_path", "")) == PAGES_PATH
            and (key := page_key(scope["query_string"])) is not None
        ):
            await self.answer(scope, send, key)
            return
        await self.app(scope, receive, send)

    async def answer(self, scope: Scope, send: Send, key: PageKey) -> None:
        await answer_ahead_of_fastapi(scope, send, ROUTE, page_json(scope["app"].state, key, scope))
