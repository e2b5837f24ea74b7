from typing import Annotated
from urllib.parse import urlencode

import pydantic_core
from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import TypeAdapter
from stack_common.database import FairPool

from api.db import ACQUIRE_TIMEOUT, Connection
from api.errors import INVALID, UNAVAILABLE, Error
from api.models import INT4_MAX, MAX_PAGE, PAGE_SIZE, Brand, ProductPage, RowId, brand_from, product_from

router = APIRouter(prefix="/brands", tags=["brands"], responses=UNAVAILABLE)
NOT_FOUND = {404: {"model": Error, "description": "No such brand"}}


BRANDS_JSON = TypeAdapter(list[Brand])


async def read_brands_json(pool: FairPool) -> bytes:
    """The whole brand list as JSON: run once per batch of concurrent requests (stack_common.fresh_reads)."""
    async with pool.acquire(ACQUIRE_TIMEOUT) as connection:
        rows = await connection.fetch("SELECT brand_id, brand_name FROM brand ORDER BY brand_id")
    return BRANDS_JSON.dump_json([brand_from(row) for row in rows])


@router.get("", response_model=list[Brand])
async def list_brands(request: Request) -> Response:
    """Every brand, by id."""
    return Response(await request.app.state.brands_json.get(), media_type="application/json")


async def read_brands_by_id(pool: FairPool, brand_ids: list[int]) -> dict[int, bytes]:
    """Brands by id, each as JSON: run once per batch of concurrent requests
    (stack_common.fresh_reads.FreshKeyedReads)."""
    async with pool.acquire(ACQUIRE_TIMEOUT) as connection:
        rows = await connection.fetch(
            "SELECT brand_id, brand_name FROM brand WHERE brand_id = ANY($1::int[])", brand_ids
        )
    return {row["brand_id"]: pydantic_core.to_json(brand_from(row)) for row in rows}


@router.get("/{brand_id}", response_model=Brand, responses={**NOT_FOUND, **INVALID})
async def get_brand(brand_id: RowId, request: Request) -> Response:
    brand = await request.app.state.brand_by_id.get(brand_id)
    if brand is None:
        raise HTTPException(404, f"brand {brand_id} does not exist")
    return Response(brand, media_type="application/json")


# One round trip: the brand's row, joined to one page of its products (keyset on product_id, the
# (brand_id, product_id) index). A brand without products (left) comes back as one all-NULL product.
BRAND_PRODUCTS_PAGE = """
    SELECT b.brand_id, p.product_id, p.product_name
    FROM brand b LEFT JOIN LATERAL (
        SELECT product_id, product_name FROM product
        WHERE brand_id = b.brand_id AND product_id > $2
        ORDER BY product_id LIMIT $3
    ) p ON true
    WHERE b.brand_id = $1
    ORDER BY p.product_id
"""


@router.get("/{brand_id}/products", responses={**NOT_FOUND, **INVALID})
async def list_brand_products(
    request: Request,
    brand_id: RowId,
    db: Connection,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size")] = PAGE_SIZE,
    after: Annotated[int, Query(ge=0, le=INT4_MAX, description="Last product_id already seen")] = 0,
) -> ProductPage:
    """The brand's products by id, a page at a time like /products (follow `next` until it is null):
    404 if there is no such brand, an empty page if it has no products."""
    # One row more than asked tells whether another page follows, without a count.
    rows = await db.fetch(BRAND_PRODUCTS_PAGE, brand_id, after, limit + 1)
    if not rows:
        raise HTTPException(404, f"brand {brand_id} does not exist")
    items = [product_from(row) for row in rows[:limit] if row["product_id"] is not None]
    if len(rows) <= limit:
        return ProductPage(items=items, next_after=None, next=None)
    next_after = items[-1]["product_id"]
    query = urlencode({"limit": limit, "after": next_after})
    path = f"{request.scope.get('root_path', '')}{router.prefix}/{brand_id}/products?{query}"
    return ProductPage(items=items, next_after=next_after, next=path)
