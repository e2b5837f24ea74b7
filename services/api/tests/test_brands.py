"""GET /api/brands, /api/brands/{id} and /api/brands/{id}/products through nginx, on the seeded data."""

import asyncio

import httpx
import pytest

from dev.stack import Stack
from tests.helpers import INT4_MAX, SEEDED_BRANDS, connected


def test_brands_lists_every_seeded_brand_in_id_order(http: httpx.Client) -> None:
    response = http.get("/api/brands")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    brands = response.json()
    assert [b["brand_id"] for b in brands] == list(range(1, SEEDED_BRANDS + 1))
    assert all(set(b) == {"brand_id", "brand_name"} for b in brands)
    assert brands[36] == {"brand_id": 37, "brand_name": "Copper Mills"}


def test_brand_by_id(http: httpx.Client) -> None:
    response = http.get("/api/brands/37")
    assert response.status_code == 200
    assert response.json() == {"brand_id": 37, "brand_name": "Copper Mills"}


def test_brand_products_are_exactly_that_brands_products(http: httpx.Client) -> None:
    page = http.get("/api/brands/7/products").json()
    assert page["next"] is None and page["next_after"] is None  # 10 products: one page of 50
    products = page["items"]
    ids = [p["product_id"] for p in products]
    assert len(ids) == 10  # the seed gives each of the 100 brands 10 of the first 1,000 products
    assert ids == sorted(ids)
    assert {p["brand_id"] for p in products} == {7}
    assert all(set(p) == {"product_id", "product_name", "brand_id"} for p in products)
    assert products[0] == http.get(f"/api/products/{ids[0]}").json()


@pytest.mark.parametrize("brand_id", [SEEDED_BRANDS + 1, INT4_MAX])
@pytest.mark.parametrize("suffix", ["", "/products"])
def test_unknown_brand_is_404(http: httpx.Client, brand_id: int, suffix: str) -> None:
    response = http.get(f"/api/brands/{brand_id}{suffix}")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": f"brand {brand_id} does not exist"}


@pytest.mark.native
def test_a_brand_without_products_lists_none(stack: Stack, http: httpx.Client) -> None:
    """The app role may not create brands; the superuser (local socket, trust) adds one and removes it."""

    async def add_brand() -> int:
        async with connected(stack.superuser_dsn()) as connection:
            return await connection.fetchval("INSERT INTO brand (brand_name) VALUES ('Empty Test') RETURNING brand_id")

    async def remove_brand(brand_id: int) -> None:
        async with connected(stack.superuser_dsn()) as connection:
            await connection.execute("DELETE FROM brand WHERE brand_id = $1", brand_id)

    brand_id = asyncio.run(add_brand())
    try:
        response = http.get(f"/api/brands/{brand_id}/products")
        assert response.status_code == 200
        assert response.json() == {"items": [], "next_after": None, "next": None}
    finally:
        asyncio.run(remove_brand(brand_id))
    assert http.get(f"/api/brands/{brand_id}/products").status_code == 404


def test_brand_products_come_in_pages_with_a_next_link(http: httpx.Client) -> None:
    """Bounded like /products: at most `limit` (≤ 500) a page, `next` to the following one."""
    first = http.get("/api/brands/7/products?limit=4").json()
    assert len(first["items"]) == 4
    assert first["next"] == f"/api/brands/7/products?limit=4&after={first['next_after']}"
    ids, url = [], "/api/brands/7/products?limit=4"
    while url is not None:
        page = http.get(url).json()
        ids += [p["product_id"] for p in page["items"]]
        url = page["next"]
    everything = http.get("/api/brands/7/products?limit=500").json()
    assert ids == [p["product_id"] for p in everything["items"]] and len(ids) == 10
    assert everything["next"] is None


@pytest.mark.parametrize("limit", ["0", "501", "100000", "-1", "x"])
def test_brand_products_page_size_is_bounded(http: httpx.Client, limit: str) -> None:
    response = http.get(f"/api/brands/7/products?limit={limit}")
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"
