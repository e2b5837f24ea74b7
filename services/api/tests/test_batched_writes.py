"""POST /api/products under concurrency: creates share one INSERT per round trip, yet each request
gets its own row and id, every 201 is committed before it is sent, and a row whose brand does not
exist fails only its own request (409)."""

import asyncio
import uuid

import asyncpg
import httpx
import pytest
from api.routes.products import insert_products
from stack_common.database import FairPool

from dev.stack import Stack
from tests.helpers import connected

MISSING_BRAND = 999_999


@pytest.mark.native
def test_concurrent_creates_are_each_committed_when_answered_and_a_bad_brand_fails_alone(
    stack: Stack, write_token: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    bodies = [
        {"product_name": f"Batch {tag} {n}", "brand_id": MISSING_BRAND if n % 4 == 0 else n % 100 + 1}
        for n in range(240)
    ]
    bodies += bodies[1:3]  # the same body twice is two products

    async def scenario() -> tuple[list[str], list[int]]:
        problems: list[str] = []
        created: list[int] = []
        checker = await asyncpg.create_pool(stack.superuser_dsn(), min_size=8, max_size=8)
        limits = httpx.Limits(max_connections=120)
        headers = {"Authorization": f"Bearer {write_token}"}
        client = httpx.AsyncClient(base_url=stack.http_url, timeout=10, limits=limits, headers=headers)
        async with client:

            async def create(body: dict) -> None:
                response = await client.post("/api/products", json=body)
                if body["brand_id"] == MISSING_BRAND:
                    expected = {"error": "conflict", "detail": f"brand {MISSING_BRAND} does not exist"}
                    if response.status_code != 409 or response.json() != expected:
                        problems.append(f"{body}: {response.status_code} {response.text}")
                    return
                if response.status_code != 201:
                    problems.append(f"{body}: {response.status_code} {response.text}")
                    return
                product = response.json()
                created.append(product["product_id"])
                if product != {"product_id": product["product_id"], **body}:
                    problems.append(f"{body} answered as {product}")
                if response.headers["location"] != f"/api/products/{product['product_id']}":
                    problems.append(f"{body}: Location {response.headers['location']}")
                # The moment the 201 arrives, the row is there for everyone else.
                stored = await checker.fetchrow(
                    "SELECT product_name, brand_id FROM product WHERE product_id = $1", product["product_id"]
                )
                if stored is None or dict(stored) != body:
                    problems.append(f"{body}: 201 as {product['product_id']}, stored {stored}")

            try:
                await asyncio.gather(*(create(body) for body in bodies))
            finally:
                stored_count = await checker.fetchval(
                    "SELECT count(*) FROM product WHERE product_name LIKE $1", f"Batch {tag} %"
                )
                await checker.execute("DELETE FROM product WHERE product_name LIKE $1", f"Batch {tag} %")
                await checker.close()
        if stored_count != len(created):
            problems.append(f"{len(created)} created, {stored_count} stored")
        return problems, created

    problems, created = asyncio.run(scenario())
    assert problems == []
    assert len(created) == len(set(created)) == sum(body["brand_id"] != MISSING_BRAND for body in bodies)


@pytest.mark.native
def test_the_api_role_commits_synchronously(stack: Stack) -> None:
    """A 201 promises the row survives a crash: the api role's sessions keep synchronous_commit on."""

    async def setting() -> str:
        async with connected(stack.database_url(with_password=True)) as connection:
            return await connection.fetchval("SHOW synchronous_commit")

    assert asyncio.run(setting()) == "on"


@pytest.mark.native
def test_one_statement_answers_each_row_by_its_position(stack: Stack) -> None:
    new = [("Position One", 5), ("Position Two", MISSING_BRAND), ("Position Three", 7), ("Position One", 5)]

    async def scenario() -> list:
        pool = await FairPool.create(stack.database_url(with_password=True), min_size=1, max_size=1)
        try:
            answers = await insert_products(pool, new)
            async with pool.acquire(3) as connection:
                stored = {
                    row["product_id"]: (row["product_name"], row["brand_id"])
                    for row in await connection.fetch(
                        "SELECT * FROM product WHERE product_name LIKE 'Position %'"
                    )
                }
                await connection.execute("DELETE FROM product WHERE product_name LIKE 'Position %'")
        finally:
            await pool.close()
        return [answers, stored]

    answers, stored = asyncio.run(scenario())
    assert answers[1] is None
    kept = [answer for answer in answers if answer is not None]
    assert [(a["product_name"], a["brand_id"]) for a in kept] == [new[0], new[2], new[3]]
    assert {a["product_id"]: (a["product_name"], a["brand_id"]) for a in kept} == stored
    assert len(stored) == 3


@pytest.mark.native
def test_a_brand_deleted_under_a_batch_fails_only_its_own_rows(stack: Stack) -> None:
    """The join sees the brand, then its delete commits before the insert's foreign-key check: the
    statement fails as a whole, and the batch falls back to one row at a time."""

    async def scenario() -> tuple[list, int]:
        pool = await FairPool.create(stack.database_url(with_password=True), min_size=1, max_size=1)
        try:
            async with connected(stack.superuser_dsn()) as superuser:
                name = f"Doomed {uuid.uuid4().hex}"
                doomed = await superuser.fetchval(
                    "INSERT INTO brand (brand_name) VALUES ($1) RETURNING brand_id", name
                )
                deleting = superuser.transaction()
                await deleting.start()
                await superuser.execute("DELETE FROM brand WHERE brand_id = $1", doomed)  # not committed yet
                batch = asyncio.create_task(
                    insert_products(pool, [("Survivor A", 2), ("Casualty", doomed), ("Survivor B", 3)])
                )
                await asyncio.sleep(0.5)  # the insert now waits for the delete's row lock
                assert not batch.done()
                await deleting.commit()
                answers = await asyncio.wait_for(batch, 10)
                await superuser.execute("DELETE FROM product WHERE product_name LIKE 'Survivor %'")
                return answers, doomed
        finally:
            await pool.close()

    answers, doomed = asyncio.run(scenario())
    assert answers[1] is None
    assert [(a["product_name"], a["brand_id"]) for a in (answers[0], answers[2])] == [
        ("Survivor A", 2),
        ("Survivor B", 3),
    ]
