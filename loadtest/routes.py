"""Every request the scenarios make, by the name Locust reports it under and the group it counts in.

Names are routes, not URLs (ids become [id]), so the stats stay one row per route however many ids
the users touch. Thresholds apply per group (see thresholds.py).
"""

from dataclasses import dataclass
from enum import StrEnum


class Group(StrEnum):
    API_READ = "api-read"
    API_WRITE = "api-write"
    LEGACY = "legacy"
    COUNTER = "counter"


@dataclass(frozen=True)
class Route:
    method: str  # Locust's request_type: the HTTP method, or WS for the websocket
    name: str
    group: Group
    # The service and route template its own metrics count it under (loadtest/server_view.py).
    served_as: tuple[str, str] | None = None


API_BRANDS = Route("GET", "/api/brands", Group.API_READ, ("api", "/brands"))
API_PRODUCTS_PAGE = Route("GET", "/api/products?after=[id]", Group.API_READ, ("api", "/products"))
API_PRODUCT = Route("GET", "/api/products/[id]", Group.API_READ, ("api", "/products/{product_id}"))
API_PRODUCT_MISSING = Route(
    "GET", "/api/products/[missing id]", Group.API_READ, ("api", "/products/{product_id}")
)
API_CREATE_PRODUCT = Route("POST", "/api/products", Group.API_WRITE, ("api", "/products"))
API_DELETE_PRODUCT = Route("DELETE", "/api/products/[id]", Group.API_WRITE, ("api", "/products/{product_id}"))
LEGACY_BRANDS = Route("GET", "/legacy/brands", Group.LEGACY, ("legacy", "/brands"))
LEGACY_PRODUCT = Route("GET", "/legacy/products/[id]", Group.LEGACY, ("legacy", "/products/{product_id}"))
LEGACY_PRODUCT_MISSING = Route(
    "GET", "/legacy/products/[missing id]", Group.LEGACY, ("legacy", "/products/{product_id}")
)
LEGACY_TIME = Route("GET", "/legacy/time", Group.LEGACY, ("legacy", "/time"))
# Connect to the first count: the latency a visitor of the page waits for the number.
COUNTER_FIRST_COUNT = Route("WS", "/counter", Group.COUNTER)
# Later counts pushed while the socket is open: counted (and checked), with no latency of their own.
COUNTER_UPDATE = Route("WS", "/counter update", Group.COUNTER)

ROUTES = {
    (route.method, route.name): route
    for route in (
        API_BRANDS,
        API_PRODUCTS_PAGE,
        API_PRODUCT,
        API_PRODUCT_MISSING,
        API_CREATE_PRODUCT,
        API_DELETE_PRODUCT,
        LEGACY_BRANDS,
        LEGACY_PRODUCT,
        LEGACY_PRODUCT_MISSING,
        LEGACY_TIME,
        COUNTER_FIRST_COUNT,
        COUNTER_UPDATE,
    )
}


def group_of(method: str, name: str) -> Group | None:
    route = ROUTES.get((method, name))
    return route.group if route else None
