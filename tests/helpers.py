"""What the test folders share besides fixtures (those are in conftest.py): polling with a deadline,
a database connection that is always closed, and what the seed wrote.

Imported as `tests.helpers` (pytest puts the project root on sys.path: `pythonpath` in pyproject).
"""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg

# What postgres/03-seed.sql writes (SEED_SCALE 1, as every test stack runs it).
SEEDED_BRANDS = 100
SEEDED_PRODUCT_IDS = range(1, 1001)
FIRST_PRODUCT = {"product_id": 1, "product_name": "Classic Cotton Jacket", "brand_id": 1}
# The largest id the int4 keys can hold.
INT4_MAX = 2**31 - 1


def wait_until(
    check: Callable[[], object], timeout: float, what: str | Callable[[], str], interval: float = 0.1
) -> None:
    """Polls `check` until it is true; after `timeout` s fails with `what` (text, or a function giving it)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what() if callable(what) else what}")
        time.sleep(interval)


async def eventually(
    check: Callable[[], object | Awaitable[object]],
    timeout: float,
    what: str | Callable[[], str],
    interval: float = 0.05,
) -> None:
    """wait_until inside an event loop; `check` may be a coroutine function."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what() if callable(what) else what}")
        await asyncio.sleep(interval)


@asynccontextmanager
async def connected(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """One asyncpg connection for the block, closed however the block ends."""
    connection = await asyncpg.connect(dsn)
    try:
        yield connection
    finally:
        await connection.close()
