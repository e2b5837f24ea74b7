"""Textbook aiohttp: one process, the default asyncio loop, a 6-connection asyncpg pool. The brand
list, a product by id and a product insert, each handler as the book writes it.

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


@routes.get("/products/{id}")
async def get_product(request: web.Request) -> web.Response:
    try:
        product_id = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPBadRequest() from None
    pool = request.app[DB_KEY]
    row = await pool.fetchrow(
        "SELECT product_id, product_name, brand_id FROM product WHERE product_id = $1", product_id
    )
    if row is None:
        raise web.HTTPNotFound()
    return web.json_response(dict(row))


@routes.post("/product")
async def create_product(request: web.Request) -> web.Response:
    body = await request.json()
    if "product_name" not in body or "brand_id" not in body:
        raise web.HTTPBadRequest()
    pool = request.app[DB_KEY]
    await pool.execute(
        "INSERT INTO product (product_id, product_name, brand_id) VALUES (DEFAULT, $1, $2)",
        body["product_name"],
        int(body["brand_id"]),
    )
    return web.Response(status=201)


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
