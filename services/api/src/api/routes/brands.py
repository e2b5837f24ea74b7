import json

from fastapi import APIRouter, HTTPException, Response

from api.db import Connection, Pool
from api.errors import Error
from api.models import Brand, Product, RowId

router = APIRouter(prefix="/brands", tags=["brands"])
NOT_FOUND = {404: {"model": Error, "description": "No such brand"}}


@router.get("", response_model=list[Brand])
async def list_brands(pool: Pool) -> Response:
    # Rows straight to JSON: a Brand model per row, then validating and encoding the list again
    # as response_model, cost ~20% of the worker's CPU in the profile (see bench/README.md).
    rows = await pool.fetch("SELECT brand_id, brand_name FROM brand ORDER BY brand_id")
    body = json.dumps([{"brand_id": brand_id, "brand_name": name} for brand_id, name in rows])
    return Response(body, media_type="application/json")


@router.get("/{brand_id}", responses=NOT_FOUND)
async def get_brand(brand_id: RowId, db: Connection) -> Brand:
    row = await db.fetchrow("SELECT brand_id, brand_name FROM brand WHERE brand_id = $1", brand_id)
    if row is None:
        raise HTTPException(404, f"brand {brand_id} does not exist")
    return Brand(**row)


@router.get("/{brand_id}/products", responses=NOT_FOUND)
async def list_brand_products(brand_id: RowId, db: Connection) -> list[Product]:
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
    return [Product(**row) for row in rows if row["product_id"] is not None]
