"""The asyncpg pool: opened in the app's lifespan, one connection per request as a dependency."""

from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
from fastapi import Depends, Request

from api.settings import Settings

# Errors that mean "the database is not reachable right now", answered with 503 (see errors.py).
DATABASE_UNAVAILABLE = (
    OSError,  # refused, reset, unreachable
    TimeoutError,  # connect, acquire or command timeout
    asyncpg.PostgresConnectionError,  # class 08: the connection failed
    asyncpg.OperatorInterventionError,  # class 57: admin shutdown, crash shutdown, cannot connect now
    asyncpg.InsufficientResourcesError,  # class 53: too many connections
    asyncpg.InterfaceError,  # the connection was closed under us
    # A connection the server drops in the middle of a query can surface as this (asyncpg#1069).
    asyncpg.InternalClientError,
)


async def create_pool(settings: Settings) -> asyncpg.Pool:
    # min_size 0: the service starts (and stays up) while the database is away and connects on
    # demand; timeouts keep a dead database from hanging requests.
    return await asyncpg.create_pool(
        settings.database_url,
        password=settings.database_password(),
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        timeout=2,
        command_timeout=5,
    )


async def get_connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    pool: asyncpg.Pool = request.app.state.pool
    connection = await pool.acquire(timeout=3)
    try:
        yield connection
    finally:
        try:
            await pool.release(connection)
        except DATABASE_UNAVAILABLE:
            # The connection died with the database, and the pool has already terminated it and
            # freed its slot. The response may be on its way: raising here would cut it off.
            pass


Connection = Annotated[asyncpg.Connection, Depends(get_connection)]
