"""Textbook FastAPI: a dependency yields a pooled asyncpg connection, the route returns dicts.

DATABASE_URL=postgresql://… uvicorn fastapi_app:app --workers N
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import Depends, FastAPI, Request


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(os.environ["DATABASE_URL"])
    yield
    await app.state.pool.close()


app = FastAPI(lifespan=lifespan)


async def get_connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    async with request.app.state.pool.acquire() as connection:
        yield connection


@app.get("/brands")
async def brands(connection: asyncpg.Connection = Depends(get_connection)) -> list[dict]:
    rows = await connection.fetch("SELECT brand_id, brand_name FROM brand")
    return [dict(row) for row in rows]
