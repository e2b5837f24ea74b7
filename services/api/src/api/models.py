"""Request and response bodies; their JSON shapes are shared with the legacy service."""

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

# The tables use SERIAL (int4) keys: anything outside 1..2^31-1 can never name a row.
RowId = Annotated[int, Field(ge=1, le=2**31 - 1)]


class Brand(BaseModel):
    brand_id: int
    brand_name: str


class Product(BaseModel):
    product_id: int
    product_name: str
    brand_id: int


class NewProduct(BaseModel):
    product_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    brand_id: RowId


class ProductPage(BaseModel):
    items: list[Product]
    # Pass as ?after= to get the next page; null on the last page.
    next_after: int | None
    next: str | None = Field(description="URL of the next page, or null on the last page")


class TimeOfDay(BaseModel):
    month: int
    day: int
    time: str


class Status(BaseModel):
    status: str
