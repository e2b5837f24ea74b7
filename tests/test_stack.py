"""The stack end to end, through nginx: every route answers with what PostgreSQL was seeded with."""

import asyncio

import asyncpg
import httpx
import pytest
import websockets

from dev.stack import Stack


def test_page_is_served_at_root(http: httpx.Client) -> None:
    response = http.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'id="count"' in response.text
    assert http.get("/counter.js").status_code == 200


def test_api_serves_the_seeded_brands(http: httpx.Client) -> None:
    brands = http.get("/api/brands").json()
    assert len(brands) == 100
    assert brands[0] == {"brand_id": 1, "brand_name": "Northwind Outfitters"}
    assert brands[-1] == {"brand_id": 100, "brand_name": "Lumen Trading"}


def test_legacy_serves_the_same_brands(http: httpx.Client) -> None:
    assert http.get("/legacy/brands").json() == http.get("/api/brands").json()


def test_a_seeded_product_reads_the_same_through_both_services(http: httpx.Client) -> None:
    expected = {"product_id": 1, "product_name": "Classic Cotton Jacket", "brand_id": 1}
    assert http.get("/api/products/1").json() == expected
    assert http.get("/legacy/products/1").json() == expected


def test_time_routes_answer(http: httpx.Client) -> None:
    for path in ("/api/time", "/legacy/time"):
        body = http.get(path).json()
        assert set(body) == {"month", "day", "time"}
        assert 1 <= body["month"] <= 12


@pytest.mark.parametrize("path", ["/api/healthz", "/api/readyz", "/legacy/healthz", "/legacy/readyz", "/counter/healthz"])
def test_health_routes_answer_through_nginx(http: httpx.Client, path: str) -> None:
    assert http.get(path).status_code == 200


def test_nginx_does_not_disclose_its_version(http: httpx.Client) -> None:
    assert http.get("/").headers["server"] == "nginx"


def test_websocket_upgrade_through_nginx_delivers_a_count(ws_url: str) -> None:
    async def first_message() -> str:
        async with websockets.connect(ws_url, open_timeout=5) as socket:
            return await asyncio.wait_for(socket.recv(), timeout=5)

    assert int(asyncio.run(first_message())) >= 1


@pytest.mark.native
def test_database_is_seeded_deterministically(stack: Stack) -> None:
    async def counts() -> tuple[int, int, int, str]:
        connection = await asyncpg.connect(stack.database_url(with_password=True))
        try:
            brands = await connection.fetchval("SELECT count(*) FROM brand")
            products = await connection.fetchval("SELECT count(*) FROM product WHERE product_id <= 1000")
            skus = await connection.fetchval("SELECT count(*) FROM sku WHERE product_id <= 1000")
            name = await connection.fetchval("SELECT product_name FROM product WHERE product_id = 1000")
            return brands, products, skus, name
        finally:
            await connection.close()

    brands, products, skus, name = asyncio.run(counts())
    assert (brands, products) == (100, 1000)
    assert skus == 4000  # two sizes × two colours each
    assert name == "Lightweight Linen Parka"
