"""Which requests api.point_reads answers itself: only ids FastAPI would read as they are. Its
answers are checked through nginx with everything else (test_products, test_brands, test_ids,
test_outage); here, that nothing else is taken away from FastAPI's validation, and that the brand
list is answered here."""

import asyncio
from types import SimpleNamespace

import pytest
from api.point_reads import PointReads, no_body, point_read

from tests.helpers import INT4_MAX


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/products/1", ("product_by_id", "product", 1)),
        ("/products/1000", ("product_by_id", "product", 1000)),
        (f"/products/{INT4_MAX}", ("product_by_id", "product", INT4_MAX)),
        ("/brands/7", ("brand_by_id", "brand", 7)),
    ],
)
def test_canonical_ids_are_point_reads(path: str, expected: tuple) -> None:
    assert point_read(path) == expected


@pytest.mark.parametrize(
    "path",
    [
        "/products/0",  # 422 from FastAPI (ge=1)
        "/products/05",  # FastAPI reads it as 5: its answer, not ours
        "/products/-5",
        "/products/+5",
        "/products/5.0",
        "/products/ 5",
        "/products/٣",  # a non-ASCII digit
        "/products/",
        f"/products/{INT4_MAX + 1}",  # 422 from FastAPI (le=INT4_MAX)
        "/products/99999999999",
        "/brands/5/products",  # another route
        "/products",
        "/brand/5",
    ],
)
def test_everything_else_goes_to_fastapi(path: str) -> None:
    assert point_read(path) is None


class BrandList:
    """app.state.brands_json: the list's JSON, as FreshReads gives it."""

    async def get(self) -> bytes:
        return b'[{"brand_id":1,"brand_name":"Northwind"}]'


def serve(path: str) -> tuple[list[dict], list[str]]:
    """What PointReads sends for a GET of `path` (under root_path /api), and the paths it passed on
    to the app behind it (FastAPI)."""
    passed_on: list[str] = []

    async def fastapi(scope: dict, receive: object, send: object) -> None:
        passed_on.append(scope["path"])

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    app = SimpleNamespace(state=SimpleNamespace(brands_json=BrandList()))
    scope = {"type": "http", "method": "GET", "path": "/api" + path, "root_path": "/api", "app": app}
    asyncio.run(PointReads(fastapi)(scope, no_body, send))
    return sent, passed_on


def test_the_brand_list_is_answered_ahead_of_fastapi() -> None:
    sent, passed_on = serve("/brands")
    assert passed_on == []
    assert sent[0]["status"] == 200
    assert (b"content-type", b"application/json") in sent[0]["headers"]
    assert sent[1]["body"] == b'[{"brand_id":1,"brand_name":"Northwind"}]'


@pytest.mark.parametrize("path", ["/brands/", "/brandsx", "/brands/x"])
def test_other_brand_paths_go_to_fastapi(path: str) -> None:
    sent, passed_on = serve(path)
    assert (sent, passed_on) == ([], ["/api" + path])
