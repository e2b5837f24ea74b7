"""Textbook aiohttp: one process, the default asyncio loop, a 6-connection asyncpg pool.

DATABASE_URL=postgresql://… PORT=9001 python aiohttp_app.py
"""

import os

import asyncpg
from aiohttp import web

DB_KEY = web.AppKey("database", asyncpg.Pool)
routes = web.RouteTableDef()


@routes.get("/brands")
async def brands(request: web.Request) -> web.Response:
    pool = request.app[DB_KEY]
    rows = await pool.fetch("SELECT brand_id, brand_name FROM brand")
    return web.json_response([dict(row) for row in rows])


async def create_database_pool(app: web.Application) -> None:
    app[DB_KEY] = await asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=6, max_size=6)


async def destroy_database_pool(app: web.Application) -> None:
    await app[DB_KEY].close()


app = web.Application()
app.on_startup.append(create_database_pool)
app.on_cleanup.append(destroy_database_pool)
app.add_routes(routes)

if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(os.environ["PORT"]), access_log=None)
