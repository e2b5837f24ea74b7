"""Request and response bodies; their JSON shapes are shared with the legacy service.

Rows go out as TypedDicts, not BaseModels: FastAPI validates a handler's return value against its
declared type and then serializes it with pydantic-core in one pass, and validating plain dicts into
a TypedDict costs a fraction of building a BaseModel per row. The OpenAPI schema is the same.
"""

from typing import Annotated

import asyncpg
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

# The tables use SERIAL (int4) keys: anything outside 1..2^31-1 can never name a row, and is a 422
# here rather than an out-of-range error from PostgreSQL.
INT4_MAX = 2**31 - 1
RowId = Annotated[int, Field(ge=1, le=INT4_MAX)]
# The largest page a list answers: no request makes the service read and send an unbounded list.
MAX_PAGE = 500
PAGE_SIZE = 50  # a page's size when no ?limit= says


class Brand(TypedDict):
    brand_id: int
    brand_name: str


class Product(TypedDict):
    product_id: int
    product_name: str
    brand_id: int


# Rows to response dicts. Dict literals are the cheapest conversion of an asyncpg Record.
def brand_from(row: asyncpg.Record) -> Brand:
    return {"brand_id": row["brand_id"], "brand_name": row["brand_name"]}


def product_from(row: asyncpg.Record) -> Product:
    return {"product_id": row["product_id"], "product_name": row["product_name"], "brand_id": row["brand_id"]}


def _json_integer(value: object) -> object:
    # JSON Schema's integer, which the OpenAPI document promises: 7 and 7.0, but not "7" or true,
    # both of which pydantic's lax mode would turn into an int. (Strict mode would refuse 7.0.)
    if isinstance(value, (bool, str)):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


def _no_nul(name: str) -> str:
    if "\x00" in name:
        raise ValueError("must not contain NUL (\\u0000) characters")
    return name


class NewProduct(BaseModel):
    # Surrounding whitespace is stripped and something must remain. NUL is refused (PostgreSQL text
    # cannot store it) by a validator with a clear message; the pattern only tells the OpenAPI schema
    # (and so clients and schemathesis) the same rules.
    product_name: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
        AfterValidator(_no_nul),
        Field(json_schema_extra={"pattern": r"^[^\x00]*[^\x00\s][^\x00]*$"}),
    ]
    brand_id: Annotated[RowId, BeforeValidator(_json_integer)]


class ProductPage(BaseModel):
    items: list[Product]
    next_after: int | None = Field(description="Pass as ?after= to get the next page; null on the last page")
    next: str | None = Field(description="Path of the next page, or null on the last page")


class TimeOfDay(BaseModel):
    month: int
    day: int
    time: str


class Status(BaseModel):
    status: str
