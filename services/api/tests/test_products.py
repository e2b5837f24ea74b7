"""/api/products through nginx: reads, the keyset pagination, and create → read → delete."""

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from dev.stack import Stack
from tests.helpers import INT4_MAX, SEEDED_PRODUCT_IDS, connected

SEEDED_IDS = set(SEEDED_PRODUCT_IDS)


def walk(http: httpx.Client, first: str) -> Iterator[dict]:
    """Every item of every page, following each page's `next` link exactly as the server gave it."""
    url: str | None = first
    pages = 0
    while url is not None:
        response = http.get(url)
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"items", "next_after", "next"}
        pages += 1
        assert pages <= 2000, "pagination does not end"
        if page["next"] is None:
            assert page["next_after"] is None
        else:
            assert page["items"], "a page with a next link is not empty"
            assert page["next_after"] == page["items"][-1]["product_id"]
        yield from page["items"]
        url = page["next"]


def product_ids(items: Iterator[dict]) -> list[int]:
    return [item["product_id"] for item in items]


def test_product_by_id(http: httpx.Client) -> None:
    response = http.get("/api/products/1000")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"product_id": 1000, "product_name": "Lightweight Linen Parka", "brand_id": 64}


@pytest.mark.parametrize("product_id", [999_999, INT4_MAX])
def test_unknown_product_is_404(http: httpx.Client, product_id: int) -> None:
    response = http.get(f"/api/products/{product_id}")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": f"product {product_id} does not exist"}


def test_first_page_has_the_default_size_and_a_next_link(http: httpx.Client) -> None:
    page = http.get("/api/products").json()
    assert product_ids(page["items"]) == list(range(1, 51))
    assert page["next_after"] == 50
    assert page["next"] == "/api/products?limit=50&after=50"


def test_pagination_walks_every_product_exactly_once(http: httpx.Client) -> None:
    small_pages = product_ids(walk(http, "/api/products?limit=7"))
    # Strictly increasing: a stable order, and no product twice.
    assert small_pages == sorted(set(small_pages))
    assert SEEDED_IDS <= set(small_pages)
    # The biggest pages see the same products: none fell between two small pages.
    assert small_pages == product_ids(walk(http, "/api/products?limit=500"))


@pytest.mark.native
def test_pagination_walk_matches_the_table(stack: Stack, http: httpx.Client) -> None:
    async def table_ids() -> list[int]:
        async with connected(stack.database_url(with_password=True)) as connection:
            return [r["product_id"] for r in await connection.fetch("SELECT product_id FROM product ORDER BY 1")]

    assert product_ids(walk(http, "/api/products?limit=13")) == asyncio.run(table_ids())


def test_pagination_by_brand_walks_that_brands_products_exactly_once(http: httpx.Client) -> None:
    items = list(walk(http, "/api/products?limit=3&brand_id=7"))
    assert {item["brand_id"] for item in items} == {7}
    assert product_ids(items) == product_ids(walk(http, "/api/brands/7/products"))


def test_next_link_keeps_the_brand_filter(http: httpx.Client) -> None:
    page = http.get("/api/products", params={"limit": 4, "brand_id": 7}).json()
    assert page["next"] == f"/api/products?limit=4&after={page['next_after']}&brand_id=7"


def test_last_page_has_no_next_link(http: httpx.Client) -> None:
    page = http.get("/api/products", params={"after": INT4_MAX}).json()
    assert page == {"items": [], "next_after": None, "next": None}


@pytest.mark.parametrize(
    ("query", "field", "problem"),
    [
        ("limit=0", "limit", "greater_than_equal"),
        ("limit=501", "limit", "less_than_equal"),
        ("limit=ten", "limit", "int_parsing"),
        ("after=-1", "after", "greater_than_equal"),
        (f"after={2**63}", "after", "less_than_equal"),
        ("after=1.5", "after", "int_parsing"),
        ("brand_id=0", "brand_id", "greater_than_equal"),
        (f"brand_id={2**64}", "brand_id", "less_than_equal"),
        ("brand_id=x", "brand_id", "int_parsing"),
    ],
)
def test_invalid_page_parameters_are_422(http: httpx.Client, query: str, field: str, problem: str) -> None:
    response = http.get(f"/api/products?{query}")
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_request"
    assert [(p["loc"], p["type"]) for p in body["detail"]] == [(["query", field], problem)]


def test_create_read_delete(http: httpx.Client) -> None:
    response = http.post("/api/products", json={"product_name": "  Test Anorak  ", "brand_id": 3})
    assert response.status_code == 201
    created = response.json()
    product_id = created["product_id"]
    try:
        assert product_id not in SEEDED_IDS
        assert created == {"product_id": product_id, "product_name": "Test Anorak", "brand_id": 3}
        assert response.headers["location"] == f"/api/products/{product_id}"
        # The Location header is a path that works through nginx as given.
        assert http.get(response.headers["location"]).json() == created
        assert created in walk(http, "/api/brands/3/products?limit=500")
    finally:
        deleted = http.delete(f"/api/products/{product_id}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    gone = http.get(f"/api/products/{product_id}")
    assert gone.status_code == 404
    assert gone.json() == {"error": "not_found", "detail": f"product {product_id} does not exist"}
    again = http.delete(f"/api/products/{product_id}")
    assert again.status_code == 404
    assert again.json()["error"] == "not_found"


def test_create_accepts_what_json_schema_calls_an_integer(http: httpx.Client) -> None:
    response = http.post("/api/products", json={"product_name": "Float Brand Id", "brand_id": 3.0})
    assert response.status_code == 201
    assert response.json()["brand_id"] == 3
    assert http.delete(response.headers["location"]).status_code == 204


def test_create_with_unknown_brand_is_409(http: httpx.Client) -> None:
    response = http.post("/api/products", json={"product_name": "Orphan", "brand_id": 101})
    assert response.status_code == 409
    assert response.json() == {"error": "conflict", "detail": "brand 101 does not exist"}


@pytest.mark.parametrize(
    ("body", "loc", "problem"),
    [
        ({"brand_id": 1}, ["body", "product_name"], "missing"),
        ({"product_name": "x"}, ["body", "brand_id"], "missing"),
        ({"product_name": "", "brand_id": 1}, ["body", "product_name"], "string_too_short"),
        ({"product_name": " \t ", "brand_id": 1}, ["body", "product_name"], "string_too_short"),
        ({"product_name": "x" * 201, "brand_id": 1}, ["body", "product_name"], "string_too_long"),
        ({"product_name": "nul\x00byte", "brand_id": 1}, ["body", "product_name"], "value_error"),
        ({"product_name": 5, "brand_id": 1}, ["body", "product_name"], "string_type"),
        ({"product_name": "x", "brand_id": "1"}, ["body", "brand_id"], "int_type"),
        ({"product_name": "x", "brand_id": True}, ["body", "brand_id"], "int_type"),
        ({"product_name": "x", "brand_id": 1.5}, ["body", "brand_id"], "int_from_float"),
        ({"product_name": "x", "brand_id": None}, ["body", "brand_id"], "int_type"),
        ({"product_name": "x", "brand_id": 0}, ["body", "brand_id"], "greater_than_equal"),
        ({"product_name": "x", "brand_id": INT4_MAX + 1}, ["body", "brand_id"], "less_than_equal"),
        ({"product_name": "x", "brand_id": 2**64}, ["body", "brand_id"], "less_than_equal"),
        ([{"product_name": "x", "brand_id": 1}], ["body"], "model_attributes_type"),
    ],
)
def test_invalid_body_is_422_with_the_problem(
    http: httpx.Client, body: object, loc: list, problem: str
) -> None:
    response = http.post("/api/products", json=body)
    assert response.status_code == 422
    payload = response.json()
    assert payload["error"] == "invalid_request"
    assert [(p["loc"], p["type"]) for p in payload["detail"]] == [(loc, problem)]


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"product_name": "x", ', "application/json"),
        (b"\xff\xfe not utf-8", "application/json"),
        (b"", "application/json"),
        (b'{"product_name": "x", "brand_id": 1}', "text/plain"),
    ],
)
def test_body_that_is_not_a_json_object_is_422(http: httpx.Client, content: bytes, content_type: str) -> None:
    response = http.post("/api/products", content=content, headers={"content-type": content_type})
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"


def test_wrong_method_is_405_json(http: httpx.Client) -> None:
    response = http.put("/api/products/1", json={})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, DELETE"
    assert response.json() == {"error": "method_not_allowed", "detail": "Method Not Allowed"}
