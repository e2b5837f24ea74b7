from typing import Annotated, NamedTuple
from urllib.parse import urlencode

import asyncpg
import pydantic_core
from fastapi import APIRouter, HTTPException, Query, Request, Response
from stack_common.database import FairPool
from starlette.datastructures import State
from starlette.types import Scope

from api.auth import UNAUTHORIZED, WriteAccess
from api.db import ACQUIRE_TIMEOUT, Connection
from api.errors import INVALID, UNAVAILABLE, Error, error_response
from api.models import INT4_MAX, MAX_PAGE, PAGE_SIZE, NewProduct, Product, ProductPage, RowId, product_from

router = APIRouter(prefix="/products", tags=["products"], responses={**UNAVAILABLE, **INVALID})
NOT_FOUND = {404: {"model": Error, "description": "No such product"}}

# Keyset pagination on the primary key: every page is an index range scan however deep it is, and
# rows inserted or deleted meanwhile never shift a page. Concurrent requests for pages share one
# query per round trip (stack_common.fresh_reads.FreshKeyedReads), one LATERAL scan per distinct
# page: visitors paging from the start ask for few distinct pages, each read and encoded once per
# batch. Two statements rather than one with "(brand IS NULL OR brand_id = brand)", so each keeps a
# plan that uses its index: the primary key here, (brand_id, product_id) with the brand filter.
# Each page is read one row longer than asked: that row tells whether another page follows.
PAGES = """
    SELECT k.n, p.product_id, p.product_name, p.brand_id
    FROM unnest($1::int[], $2::int[]) WITH ORDINALITY AS k (after, size, n)
    CROSS JOIN LATERAL (
        SELECT product_id, product_name, brand_id FROM product
        WHERE product_id > k.after
        ORDER BY product_id LIMIT k.size + 1
    ) p
    ORDER BY k.n, p.product_id
"""
BRAND_PAGES = """
    SELECT k.n, p.product_id, p.product_name, p.brand_id
    FROM unnest($1::int[], $2::int[], $3::int[]) WITH ORDINALITY AS k (after, size, brand, n)
    CROSS JOIN LATERAL (
        SELECT product_id, product_name, brand_id FROM product
        WHERE brand_id = k.brand AND product_id > k.after
        ORDER BY product_id LIMIT k.size + 1
    ) p
    ORDER BY k.n, p.product_id
"""


class PageKey(NamedTuple):
    after: int
    limit: int
    brand_id: int | None


class PageRows(NamedTuple):
    """A page as read: its items as JSON, and the last one's id when another page follows."""

    items_json: bytes
    next_after: int | None


def public_path(scope: Scope, rest: str) -> str:
    """A path under /products as clients see it: behind nginx, with the /api prefix (root_path)."""
    return f"{scope.get('root_path', '')}{router.prefix}{rest}"


async def read_pages(pool: FairPool, keys: list[PageKey]) -> dict[PageKey, PageRows]:
    """Pages of products, each as its items' JSON: run once per batch of concurrent requests
    (stack_common.fresh_reads.FreshKeyedReads), which passes each key once."""
    plain = [key for key in keys if key.brand_id is None]
    of_brand = [key for key in keys if key.brand_id is not None]
    items: dict[PageKey, list[Product]] = {key: [] for key in keys}

    def collect(batch: list[PageKey], rows: list[asyncpg.Record]) -> None:
        for row in rows:  # n: the row's key's position in the arrays, from 1
            items[batch[row["n"] - 1]].append(product_from(row))

    async with pool.acquire(ACQUIRE_TIMEOUT) as connection:
        if plain:
            afters, limits, _ = zip(*plain)
            collect(plain, await connection.fetch(PAGES, afters, limits))
        if of_brand:
            collect(of_brand, await connection.fetch(BRAND_PAGES, *zip(*of_brand)))
    return {key: page_rows(found, key.limit) for key, found in items.items()}


def page_rows(items: list[Product], limit: int) -> PageRows:
    if len(items) <= limit:
        return PageRows(pydantic_core.to_json(items), None)
    return PageRows(pydantic_core.to_json(items[:limit]), items[limit - 1]["product_id"])


@router.get("", response_model=ProductPage)
async def list_products(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size")] = PAGE_SIZE,
    after: Annotated[int, Query(ge=0, le=INT4_MAX, description="Last product_id already seen")] = 0,
    brand_id: Annotated[RowId | None, Query(description="Only this brand's products")] = None,
) -> Response:
    """Products by id, a page at a time: follow `next` until it is null to see each product once."""
    body = await page_json(request.app.state, PageKey(after, limit, brand_id), request.scope)
    return Response(body, media_type="application/json")


async def page_json(state: State, key: PageKey, scope: Scope) -> bytes:
    """A page as ProductPage's JSON, here and in api.page_reads: its items encoded once per batch
    (read_pages), the rest per request."""
    page = await state.product_pages.get(key)
    next_page = None
    if page.next_after is not None:
        query = {"limit": key.limit, "after": page.next_after}
        if key.brand_id is not None:
            query["brand_id"] = key.brand_id
        next_page = public_path(scope, f"?{urlencode(query)}")
    return b'{"items":%s,"next_after":%s,"next":%s}' % (
        page.items_json,
        pydantic_core.to_json(page.next_after),
        pydantic_core.to_json(next_page),
    )


async def read_products_by_id(pool: FairPool, product_ids: list[int]) -> dict[int, bytes]:
    """Products by id, each as JSON: run once per batch of concurrent requests
    (stack_common.fresh_reads.FreshKeyedReads)."""
    async with pool.acquire(ACQUIRE_TIMEOUT) as connection:
        rows = await connection.fetch(
            "SELECT product_id, product_name, brand_id FROM product WHERE product_id = ANY($1::int[])",
            product_ids,
        )
    return {row["product_id"]: pydantic_core.to_json(product_from(row)) for row in rows}


@router.get("/{product_id}", response_model=Product, responses=NOT_FOUND)
async def get_product(product_id: RowId, request: Request) -> Response:
    product = await request.app.state.product_by_id.get(product_id)
    if product is None:
        raise HTTPException(404, f"product {product_id} does not exist")
    return Response(product, media_type="application/json")


# Concurrent creates share one INSERT per round trip (stack_common.batches.Batches): the rows come
# as two arrays, each takes its id from the sequence here, so each caller learns its own id by its
# position. A row naming a brand that does not exist is left out by the join (its caller answers
# 409), the others go in. One statement in autocommit: it is committed, and with synchronous_commit
# on (PostgreSQL's default) on disk, before any caller answers 201.
INSERT_PRODUCTS = """
    WITH new AS (
        SELECT nextval('product_product_id_seq') AS product_id, n.product_name, n.brand_id, n.position
        FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS n (product_name, brand_id, position)
        JOIN brand b ON b.brand_id = n.brand_id
    ), inserted AS (
        INSERT INTO product (product_id, product_name, brand_id)
        SELECT product_id, product_name, brand_id FROM new
        RETURNING product_id
    )
    SELECT new.position, new.product_id FROM new JOIN inserted USING (product_id)
"""


async def insert_products(pool: FairPool, new: list[tuple[str, int]]) -> list[Product | None]:
    """Each new (name, brand id) as its stored row, or None when its brand does not exist."""
    async with pool.acquire(ACQUIRE_TIMEOUT) as connection:
        try:
            return await insert_rows(connection, new)
        except asyncpg.ForeignKeyViolationError:
            # A brand deleted after the join saw it: the statement inserted nothing. Row by row,
            # so that only the rows naming that brand fail.
            return [await insert_row(connection, name, brand_id) for name, brand_id in new]


async def insert_rows(connection: asyncpg.Connection, new: list[tuple[str, int]]) -> list[Product | None]:
    rows = await connection.fetch(INSERT_PRODUCTS, [name for name, _ in new], [brand for _, brand in new])
    ids = {row["position"]: row["product_id"] for row in rows}
    return [
        {"product_id": ids[position], "product_name": name, "brand_id": brand_id}
        if position in ids
        else None
        for position, (name, brand_id) in enumerate(new, 1)
    ]


async def insert_row(connection: asyncpg.Connection, name: str, brand_id: int) -> Product | None:
    try:
        [product] = await insert_rows(connection, [(name, brand_id)])
    except asyncpg.ForeignKeyViolationError:
        return None
    return product


@router.post(
    "",
    status_code=201,
    dependencies=[WriteAccess],
    response_model=Product,
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
async def create_product(body: NewProduct, request: Request) -> Response:
    """Create a product; answers with the new row and its path in `Location`."""
    return await answer_create(request.app.state, body, request.scope)


async def answer_create(state: State, new: NewProduct, scope: Scope) -> Response:
    """The answer to a valid, authorized create, here and in api.plain_creates: 201 with the stored
    row and its path in `Location`, or 409 when its brand does not exist."""
    product = await state.new_products.submit((new.product_name, new.brand_id))
    if product is None:
        # The body is well formed; it names a brand the catalogue does not have (now).
        return error_response(409, f"brand {new.brand_id} does not exist")
    # Encoded here rather than validated against response_model first: the row is ours, built
    # from the validated body and the id PostgreSQL gave it.
    return Response(
        pydantic_core.to_json(product),
        status_code=201,
        media_type="application/json",
        headers={"Location": public_path(scope, f"/{product['product_id']}")},
    )


@router.delete(
    "/{product_id}", status_code=204, dependencies=[WriteAccess], responses={**NOT_FOUND, **UNAUTHORIZED}
)
async def delete_product(product_id: RowId, db: Connection) -> None:
    deleted = await db.fetchval("DELETE FROM product WHERE product_id = $1 RETURNING product_id", product_id)
    if deleted is None:
        raise HTTPException(404, f"product {product_id} does not exist")
