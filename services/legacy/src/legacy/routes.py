"""Every route of the service, in one table. Paths are as nginx forwards them, without /legacy."""

import datetime
import re

import orjson
from aiohttp import web
from stack_common.database import DATABASE_UNAVAILABLE, FairPool
from stack_common.fresh_reads import FreshKeyedReads, FreshReads

from legacy.db import POOL
from legacy.errors import error_response
from legacy.responses import json_response

routes = web.RouteTableDef()

# The tables use SERIAL (int4) keys: an integer outside 1..2^31-1 can never name a row.
MAX_ROW_ID = 2**31 - 1
# ASCII digits only: int() alone would also take " 7", "1_000" and non-Latin digits like "٣".
INTEGER = re.compile(r"-?[0-9]+")


def row_id(raw: str, what: str) -> int:
    """The key in a path segment; 400 when it is not an integer, 404 when no row can have it."""
    shown = raw if len(raw) <= 40 else raw[:40] + "…"  # echo the input, but never a huge one
    if not INTEGER.fullmatch(raw):
        raise web.HTTPBadRequest(text=f"{what} id must be an integer, got {shown!r}")
    # Leading zeros stripped and length checked first: int() of a huge string costs time and fails.
    digits = raw.removeprefix("-").lstrip("0")
    if raw.startswith("-") or not digits or len(digits) > 10 or int(digits) > MAX_ROW_ID:
        raise web.HTTPNotFound(text=f"{what} {shown} does not exist")
    return int(digits)


@routes.get("/time")
async def time_of_day(request: web.Request) -> web.Response:
    today = datetime.datetime.today()  # noqa: DTZ002 - local time of day, as the classic example
    return json_response({"month": today.month, "day": today.day, "time": str(today.time())})


async def read_brands_json(pool: FairPool) -> bytes:
    """The whole brand list as JSON: run once per batch of concurrent requests (stack_common.fresh_reads)."""
    async with pool.acquire(3) as connection:
        rows = await connection.fetch("SELECT brand_id, brand_name FROM brand ORDER BY brand_id")
    return orjson.dumps([dict(row) for row in rows])


BRANDS_JSON = web.AppKey("brands_json", FreshReads[bytes])


@routes.get("/brands")
async def list_brands(request: web.Request) -> web.Response:
    return web.Response(body=await request.app[BRANDS_JSON].get(), content_type="application/json")


async def read_products_by_id(pool: FairPool, product_ids: list[int]) -> dict[int, bytes]:
    """Products by id, each as JSON: run once per batch of concurrent requests
    (stack_common.fresh_reads.FreshKeyedReads)."""
    async with pool.acquire(3) as connection:
        rows = await connection.fetch(
            "SELECT product_id, product_name, brand_id FROM product WHERE product_id = ANY($1::int[])",
            product_ids,
        )
    return {row["product_id"]: orjson.dumps(dict(row)) for row in rows}


PRODUCT_BY_ID = web.AppKey("product_by_id", FreshKeyedReads[int, bytes])


@routes.get("/products/{product_id}")
async def get_product(request: web.Request) -> web.Response:
    product_id = row_id(request.match_info["product_id"], "product")
    product = await request.app[PRODUCT_BY_ID].get(product_id)
    if product is None:
        raise web.HTTPNotFound(text=f"product {product_id} does not exist")
    return web.Response(body=product, content_type="application/json")


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """The process is alive and serving; says nothing about the database."""
    return json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Ready when a query round-trips to the database."""
    try:
        async with request.app[POOL].acquire(2) as connection:
            await connection.fetchval("SELECT 1", timeout=2)
    except DATABASE_UNAVAILABLE:
        return error_response(503, "the database is unavailable")
    return json_response({"status": "ready"})
