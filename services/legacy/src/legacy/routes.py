"""Every route of the service, in one table."""

import datetime

from aiohttp import web

from legacy.db import DATABASE_UNAVAILABLE, POOL
from legacy.errors import error_response

routes = web.RouteTableDef()
MAX_ROW_ID = 2**31 - 1  # SERIAL (int4) keys


@routes.get("/time")
async def time_of_day(request: web.Request) -> web.Response:
    today = datetime.datetime.today()
    return web.json_response({"month": today.month, "day": today.day, "time": str(today.time())})


@routes.get("/brands")
async def list_brands(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire(timeout=3) as connection:
        rows = await connection.fetch("SELECT brand_id, brand_name FROM brand ORDER BY brand_id")
    return web.json_response([dict(row) for row in rows])


@routes.get("/products/{product_id}")
async def get_product(request: web.Request) -> web.Response:
    raw_id = request.match_info["product_id"]
    try:
        product_id = int(raw_id)
    except ValueError:
        raise web.HTTPBadRequest(text=f"product id must be an integer, got {raw_id!r}") from None
    if not 1 <= product_id <= MAX_ROW_ID:
        raise web.HTTPNotFound(text=f"product {product_id} does not exist")
    async with request.app[POOL].acquire(timeout=3) as connection:
        row = await connection.fetchrow(
            "SELECT product_id, product_name, brand_id FROM product WHERE product_id = $1", product_id
        )
    if row is None:
        raise web.HTTPNotFound(text=f"product {product_id} does not exist")
    return web.json_response(dict(row))


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    try:
        async with request.app[POOL].acquire(timeout=2) as connection:
            await connection.fetchval("SELECT 1", timeout=2)
    except DATABASE_UNAVAILABLE:
        return error_response(503, "the database is unavailable")
    return web.json_response({"status": "ready"})
