from typing import Annotated
from urllib.parse import urlencode

import asyncpg
from fastapi import APIRouter, HTTPException, Query, Request, Response

from api.db import Connection
from api.errors import Error
from api.models import NewProduct, Product, ProductPage, RowId

router = APIRouter(prefix="/products", tags=["products"])
NOT_FOUND = {404: {"model": Error, "description": "No such product"}}
MAX_PAGE = 500


@router.get("")
async def list_products(
    request: Request,
    db: Connection,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    after: Annotated[int, Query(ge=0, le=2**31 - 1, description="Last product_id already seen")] = 0,
    brand_id: RowId | None = None,
) -> ProductPage:
    # Keyset pagination on the primary key: every page is an index range scan, however deep,
    # and rows inserted or deleted meanwhile never shift a page.
    rows = await db.fetch(
        """
        SELECT product_id, product_name, brand_id FROM product
        WHERE product_id > $1 AND ($2::int IS NULL OR brand_id = $2)
        ORDER BY product_id
        LIMIT $3
        """,
        after,
        brand_id,
        limit + 1,
    )
    items = [Product(**row) for row in rows[:limit]]
    if len(rows) <= limit:
        return ProductPage(items=items, next_after=None, next=None)
    next_after = items[-1].product_id
    query = {"limit": limit, "after": next_after}
    if brand_id is not None:
        query["brand_id"] = brand_id
    next_url = f"{request.scope.get('root_path', '')}/products?{urlencode(query)}"
    return ProductPage(items=items, next_after=next_after, next=next_url)


@router.get("/{product_id}", responses=NOT_FOUND)
async def get_product(product_id: RowId, db: Connection) -> Product:
    row = await db.fetchrow(
        "SELECT product_id, product_name, brand_id FROM product WHERE product_id = $1", product_id
    )
    if row is None:
        raise HTTPException(404, f"product {product_id} does not exist")
    return Product(**row)


@router.post(
    "",
    status_code=201,
    responses={422: {"model": Error, "description": "Invalid body or unknown brand"}},
)
async def create_product(body: NewProduct, request: Request, response: Response, db: Connection) -> Product:
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
        raise HTTPException(422, f"brand {body.brand_id} does not exist") from None
    product = Product(**row)
    response.headers["Location"] = f"{request.scope.get('root_path', '')}/products/{product.product_id}"
    return product


@router.delete("/{product_id}", status_code=204, responses=NOT_FOUND)
async def delete_product(product_id: RowId, db: Connection) -> None:
    deleted = await db.fetchval(
        "DELETE FROM product WHERE product_id = $1 RETURNING product_id", product_id
    )
    if deleted is None:
        raise HTTPException(404, f"product {product_id} does not exist")
