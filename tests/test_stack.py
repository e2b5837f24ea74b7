"""The stack end to end, through nginx: every route answers with what PostgreSQL was seeded with."""

import asyncio

import httpx
import pytest
import websockets

from dev.stack import Stack
from tests.helpers import FIRST_PRODUCT, SEEDED_BRANDS, SEEDED_PRODUCT_IDS, connected


def test_page_is_served_at_root(http: httpx.Client) -> None:
    response = http.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'id="count"' in response.text
    assert http.get("/counter.js").status_code == 200


def test_api_serves_the_seeded_brands(http: httpx.Client) -> None:
    brands = http.get("/api/brands").json()
    assert len(brands) == SEEDED_BRANDS
    assert brands[0] == {"brand_id": 1, "brand_name": "Northwind Outfitters"}
    assert brands[-1] == {"brand_id": 100, "brand_name": "Lumen Trading"}


def test_legacy_serves_the_same_brands(http: httpx.Client) -> None:
    assert http.get("/legacy/brands").json() == http.get("/api/brands").json()


def test_a_seeded_product_reads_the_same_through_both_services(http: httpx.Client) -> None:
    assert http.get("/api/products/1").json() == FIRST_PRODUCT
    assert http.get("/legacy/products/1").json() == FIRST_PRODUCT


# The one string a client stores: quotes, backslashes, SQL, JSON's and HTML's special characters,
# and text beyond ASCII, including forms a normalization would change (e + combining acute, a ligature).
STORED_NAMES = [
    'The "Field" Jacket \'Mk II\'',
    "C:\\new\\table \\x00 \\u0041 \\",
    "Robert'); DROP TABLE product;--",
    "' OR '1'='1' /* */ %_ $1",
    "</script><b>&amp;</b> {\"a\": [1]}",
    "Ünïcødé Jäckët — 雨衣 🧥 معطف",
    "Cafe\u0301 \ufb01eld \u2028 \u200d👩\u200d👧 \U0001d518",
    "é" * 200,  # the longest name, in two-byte characters
]


@pytest.mark.parametrize("name", STORED_NAMES, ids=range(len(STORED_NAMES)))
def test_a_stored_name_reads_back_byte_for_byte_through_both_services(http: httpx.Client, name: str) -> None:
    created = http.post("/api/products", json={"product_name": name, "brand_id": 2})
    assert created.status_code == 201, created.text
    product_id = created.json()["product_id"]
    try:
        assert created.json()["product_name"].encode() == name.encode()
        for path in (f"/api/products/{product_id}", f"/legacy/products/{product_id}"):
            assert http.get(path).json()["product_name"].encode() == name.encode(), path
    finally:
        assert http.delete(f"/api/products/{product_id}").status_code == 204


def test_time_routes_answer(http: httpx.Client) -> None:
    for path in ("/api/time", "/legacy/time"):
        body = http.get(path).json()
        assert set(body) == {"month", "day", "time"}
        assert 1 <= body["month"] <= 12


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/healthz", b'{"status":"ok"}'),
        ("/api/readyz", b'{"status":"ready"}'),
        ("/legacy/healthz", b'{"status":"ok"}'),
        ("/legacy/readyz", b'{"status":"ready"}'),
        ("/counter/healthz", b"ok\n"),
    ],
)
def test_health_routes_answer_through_nginx(http: httpx.Client, path: str, body: bytes) -> None:
    response = http.get(path)
    assert response.status_code == 200
    assert response.content == body


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
        async with connected(stack.database_url(with_password=True)) as connection:
            brands = await connection.fetchval("SELECT count(*) FROM brand")
            products = await connection.fetchval("SELECT count(*) FROM product WHERE product_id <= 1000")
            skus = await connection.fetchval("SELECT count(*) FROM sku WHERE product_id <= 1000")
            name = await connection.fetchval("SELECT product_name FROM product WHERE product_id = 1000")
            return brands, products, skus, name

    brands, products, skus, name = asyncio.run(counts())
    assert (brands, products) == (SEEDED_BRANDS, len(SEEDED_PRODUCT_IDS))
    assert skus == 4000  # two sizes × two colours each
    assert name == "Lightweight Linen Parka"
