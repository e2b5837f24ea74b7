"""Batched reads are as fresh as one query per request: under concurrent load, a row committed a
moment ago is in the very next answer of both services (the brand list, a brand or a product by id,
a page of products), and a deleted one is gone."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable

import httpx
import pytest

from dev.stack import Stack
from tests.helpers import connected


@contextlib.asynccontextmanager
async def kept_asking(client: httpx.AsyncClient, paths: Iterable[str]) -> AsyncIterator[None]:
    """While the block runs, one client per path keeps asking for it (so a query for it is nearly
    always running); all of them have stopped when the block ends."""
    stop = asyncio.Event()

    async def keep_asking(path: str) -> None:
        while not stop.is_set():
            await client.get(path)

    pollers = [asyncio.create_task(keep_asking(path)) for path in paths]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*pollers)


@pytest.mark.native
def test_brands_reflect_every_acknowledged_write_under_load(stack: Stack) -> None:
    async def scenario() -> list[str]:
        problems: list[str] = []
        async with (
            connected(stack.superuser_dsn()) as superuser,  # the app role may not write brands
            httpx.AsyncClient(base_url=stack.http_url, timeout=10) as client,
            kept_asking(client, ("/api/brands", "/legacy/brands") * 16),
        ):
            for round_number in range(20):
                name = f"Freshness Probe {round_number}"
                brand_id = await superuser.fetchval(
                    "INSERT INTO brand (brand_name) VALUES ($1) RETURNING brand_id", name
                )
                for path in ("/api/brands", "/legacy/brands"):
                    if {"brand_id": brand_id, "brand_name": name} not in (await client.get(path)).json():
                        problems.append(f"{path} missed brand {brand_id} after its insert committed")
                await superuser.execute("DELETE FROM brand WHERE brand_id = $1", brand_id)
                for path in ("/api/brands", "/legacy/brands"):
                    if any(b["brand_id"] == brand_id for b in (await client.get(path)).json()):
                        problems.append(f"{path} still had brand {brand_id} after its delete committed")
        return problems

    assert asyncio.run(scenario()) == []


# A row by id, by path prefix: the table, its key, its id sequence and how to create one.
KEYED = {
    "product": (
        ("/api/products/", "/legacy/products/"),
        "product_product_id_seq",
        "INSERT INTO product (product_id, product_name, brand_id) VALUES ($1, $2, 1)",
        "DELETE FROM product WHERE product_id = $1",
    ),
    "brand": (
        ("/api/brands/",),
        "brand_brand_id_seq",
        "INSERT INTO brand (brand_id, brand_name) VALUES ($1, $2)",
        "DELETE FROM brand WHERE brand_id = $1",
    ),
}


@pytest.mark.native
@pytest.mark.parametrize("kind", KEYED)
def test_rows_by_id_reflect_every_acknowledged_write_under_load(stack: Stack, kind: str) -> None:
    """While other clients keep asking for the very id being created and deleted (so a query for it
    is nearly always running) and for random seeded ids, the first answer after a commit sees it."""
    prefixes, sequence, insert, delete = KEYED[kind]

    async def scenario() -> list[str]:
        problems: list[str] = []
        limits = httpx.Limits(max_connections=64)
        async with (
            connected(stack.superuser_dsn()) as superuser,
            httpx.AsyncClient(base_url=stack.http_url, timeout=10, limits=limits) as client,
        ):

            async def seeded_load(stop: asyncio.Event) -> None:
                number = 0
                while not stop.is_set():
                    number += 1
                    await client.get(f"{prefixes[number % len(prefixes)]}{number % 100 + 1}")

            background = asyncio.Event()
            load = [asyncio.create_task(seeded_load(background)) for _ in range(16)]
            try:
                for round_number in range(30):
                    row_id = await superuser.fetchval("SELECT nextval($1::regclass)", sequence)
                    name = f"Freshness Probe {kind} {round_number}"
                    paths = [f"{prefix}{row_id}" for prefix in prefixes for _ in range(16 // len(prefixes))]
                    async with kept_asking(client, paths):
                        await asyncio.sleep(0.05)  # queries for the id, not there yet, are running
                        await superuser.execute(insert, row_id, name)
                        for prefix in prefixes:
                            response = await client.get(f"{prefix}{row_id}")
                            if response.status_code != 200 or name not in response.text:
                                problems.append(f"{prefix}{row_id} after its insert: {response.status_code}")
                        await asyncio.sleep(0.05)
                        await superuser.execute(delete, row_id)
                        for prefix in prefixes:
                            response = await client.get(f"{prefix}{row_id}")
                            if response.status_code != 404:
                                problems.append(f"{prefix}{row_id} after its delete: {response.status_code}")
            finally:
                background.set()
                await asyncio.gather(*load)
        return problems

    assert asyncio.run(scenario()) == []


PAGE = (
    "SELECT product_id, product_name, brand_id FROM product WHERE product_id > $1"
    " ORDER BY product_id LIMIT $2"
)
BRAND_PAGE = (
    "SELECT product_id, product_name, brand_id FROM product WHERE brand_id = $3 AND product_id > $1"
    " ORDER BY product_id LIMIT $2"
)


@pytest.mark.native
def test_pages_are_each_their_own_and_reflect_every_acknowledged_write_under_load(stack: Stack) -> None:
    """/api/products pages share one query per batch: concurrent requests for different pages (with
    and without a brand) each get their own, and a product committed a moment ago is on the very
    next answer of a page that other clients keep asking for."""

    async def scenario() -> list[str]:
        problems: list[str] = []
        limits = httpx.Limits(max_connections=64)
        async with (
            connected(stack.superuser_dsn()) as superuser,
            httpx.AsyncClient(base_url=stack.http_url, timeout=10, limits=limits) as client,
        ):
            keys = [(after, limit, None) for after in range(0, 1000, 37) for limit in (1, 7, 50)]
            keys += [(after, 5, brand) for after in (0, 300, 990) for brand in (1, 7, 99)]
            expected = {}
            for after, limit, brand in keys:
                rows = await (
                    superuser.fetch(PAGE, after, limit)
                    if brand is None
                    else superuser.fetch(BRAND_PAGE, after, limit, brand)
                )
                expected[(after, limit, brand)] = [dict(row) for row in rows]

            async def page(after: int, limit: int, brand: int | None) -> None:
                params = {"after": after, "limit": limit, **({"brand_id": brand} if brand else {})}
                response = await client.get("/api/products", params=params)
                if response.status_code != 200 or response.json()["items"] != expected[(after, limit, brand)]:
                    problems.append(f"page {params}: {response.status_code} {response.text[:200]}")

            await asyncio.gather(*(page(*key) for key in keys * 3))

            for round_number in range(20):
                row_id = await superuser.fetchval("SELECT nextval('product_product_id_seq')")
                path = f"/api/products?after={row_id - 1}&limit=1"
                name = f"Freshness Probe page {round_number}"
                async with kept_asking(client, [path] * 16):
                    await asyncio.sleep(0.05)  # queries for the page, still without the row, are running
                    await superuser.execute(KEYED["product"][2], row_id, name)
                    items = (await client.get(path)).json()["items"]
                    if [item["product_id"] for item in items] != [row_id]:
                        problems.append(f"{path} after the insert of {row_id}: {items}")
                    await asyncio.sleep(0.05)
                    await superuser.execute(KEYED["product"][3], row_id)
                    items = (await client.get(path)).json()["items"]
                    if any(item["product_id"] == row_id for item in items):
                        problems.append(f"{path} after the delete of {row_id}: {items}")
        return problems

    assert asyncio.run(scenario()) == []
