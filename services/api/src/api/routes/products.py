from typing import Annotated
from urllib.parse import urlencode

import asyncpg
from fastapi import APIRouter, HTTPException, Query, Request, Response

from api.auth import UNAUTHORIZED, WriteAccess
from api.db import Connection
from api.errors import INVALID, UNAVAILABLE, Error
from api.models import INT4_MAX, MAX_PAGE, NewProduct, Product, ProductPage, RowId, product_from

router = APIRouter(prefix="/products", tags=["products"], responses={**UNAVAILABLE, **INVALID})
NOT_FOUND = {404: {"model": Error, "description": "No such product"}}

# Keyset pagination on the primary key: every page is an index range scan however deep it is, and
# rows inserted or deleted meanwhile never shift a page. Two statements rather than one with
# "($2 IS NULL OR brand_id = $2)", so each keeps a plan that uses its index: the primary key here,
# (brand_id, product_id) with the brand filter.
PAGE = """
    SELECT product_id, product_name, brand_id FROM product
    WHERE product_id > $1
    ORDER BY product_id LIMIT $2
"""
BRAND_PAGE = """
    SELECT product_id, product_name, brand_id FROM product
    WHERE brand_id = $3 AND product_id > $1
    ORDER BY product_id LIMIT $2
"""


def public_path(request: Request, rest: str) -> str:
    """A path under /products as clients see it: behind nginx, with the /api prefix (root_path)."""
    return f"{request.scope.get('root_path', '')}{router.prefix}{rest}"


@router.get("")
async def list_products(
    request: Request,
    db: Connection,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size")] = 50,
    after: Annotated[int, Query(ge=0, le=INT4_MAX, description="Last product_id already seen")] = 0,
    brand_id: Annotated[RowId | None, Query(description="Only this brand's products")] = None,
) -> ProductPage:
    """Products by id, a page at a time: follow `next` until it is null to see each product once."""
    # One row more than asked tells whether another page follows, without a count.
    if brand_id is None:
        rows = await db.fetch(PAGE, after, limit + 1)
    else:
        rows = await db.fetch(BRAND_PAGE, after, limit + 1, brand_id)
    items = [product_from(row) for row in rows[:limit]]
    if len(rows) <= limit:
        return ProductPage(items=items, next_after=None, next=None)
    next_after = items[-1]["product_id"]
    query = {"limit": limit, "after": next_after}
    if brand_id is not None:
        query["brand_id"] = brand_id
    return ProductPage(items=items, next_after=next_after, next=public_path(request, f"?{urlencode(query)}"))


@router.get("/{product_id}", responses=NOT_FOUND)
async def get_product(product_id: RowId, db: Connection) -> Product:
    row = await db.fetchrow(
        "SELECT product_id, product_name, brand_id FROM product WHERE product_id = $1", product_id
    )
    if row is None:
        raise HTTPException(404, f"product {product_id} does not exist")
    return product_from(row)


@router.post(
    "",
    status_code=201,
    dependencies=[WriteAccess],
    responses={
        **UNAUTHORIZED,
        201: {
            "headers": {"Location": {"description": "Path of the new product", "schema": {"type": "string"}}}
        },
        # FastAPI's own answer to a body that is not text (invalid UTF-8), before validation runs.
        400: {"model": Error, "description": "The body cannot be read"},
        409: {"model": Error, "description": "The brand does not exist"},
    },
)
async def create_product(body: NewProduct, request: Request, response: Response, db: Connection) -> Product:
    """Create a product; answers with the new row and its path in `Location`."""
    try:
        row = await db.fetchrow(
            """
            INSERT INTO product (product_name, brand_id) VALUES ($1, $2)
            RETURNING product_id, product_name, brand_id
            """,
            body.product_name,
            body.brand_id,
        )
    except asyncpg.ForeignKeyViolationError:
        # The body is well formed; it names a brand the catalogue does not have (now).
        raise HTTPException(409, f"brand {body.brand_id} does not exist") from None
    product = product_from(row)
    response.headers["Location"] = public_path(request, f"/{product['product_id']}")
    return product


@router.delete(
    "/{product_id}", status_code=204, dependencies=[WriteAccess], responses={**NOT_FOUND, **UNAUTHORIZED}
)
async def delete_product(product_id: RowId, db: Connection) -> None:
    deleted = await db.fetchval("DELETE FROM product WHERE product_id = $1 RETURNING product_id", product_id)
    if deleted is None:
        raise HTTPException(404, f"product {product_id} does not exist")
