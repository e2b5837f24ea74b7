from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import TypeAdapter
from stack_common.database import FairPool

from api.db import ACQUIRE_TIMEOUT, Connection
from api.errors import INVALID, UNAVAILABLE, Error
from api.models import Brand, Product, RowId, brand_from, product_from

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


@router.get("/{brand_id}", responses={**NOT_FOUND, **INVALID})
async def get_brand(brand_id: RowId, db: Connection) -> Brand:
    row = await db.fetchrow("SELECT brand_id, brand_name FROM brand WHERE brand_id = $1", brand_id)
    if row is None:
        raise HTTPException(404, f"brand {brand_id} does not exist")
    return brand_from(row)


@router.get("/{brand_id}/products", responses={**NOT_FOUND, **INVALID})
async def list_brand_products(brand_id: RowId, db: Connection) -> list[Product]:
    """Every product of the brand, by id: 404 if there is no such brand, [] if it has no products."""
    # One round trip: the LEFT JOIN yields a single all-NULL product row for a brand without any.
    rows = await db.fetch(
        """
        SELECT b.brand_id, p.product_id, p.product_name
        FROM brand b LEFT JOIN product p ON p.brand_id = b.brand_id
        WHERE b.brand_id = $1
        ORDER BY p.product_id
        """,
        brand_id,
    )
    if not rows:
        raise HTTPException(404, f"brand {brand_id} does not exist")
    return [product_from(row) for row in rows if row["product_id"] is not None]
