"""Which requests api.point_reads answers itself: only ids FastAPI would read as they are. Its
answers are checked through nginx with everything else (test_products, test_brands, test_ids,
test_outage); here, that nothing else is taken away from FastAPI's validation."""

import pytest
from api.point_reads import point_read

from tests.helpers import INT4_MAX


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/products/1", ("product_by_id", "product", 1)),
        ("/products/1000", ("product_by_id", "product", 1000)),
        (f"/products/{INT4_MAX}", ("product_by_id", "product", INT4_MAX)),
        ("/brands/7", ("brand_by_id", "brand", 7)),
    ],
)
def test_canonical_ids_are_point_reads(path: str, expected: tuple) -> None:
    assert point_read(path) == expected


@pytest.mark.parametrize(
    "path",
    [
        "/products/0",  # 422 from FastAPI (ge=1)
        "/products/05",  # FastAPI reads it as 5: its answer, not ours
        "/products/-5",
        "/products/+5",
        "/products/5.0",
        "/products/ 5",
        "/products/٣",  # a non-ASCII digit
        "/products/",
        f"/products/{INT4_MAX + 1}",  # 422 from FastAPI (le=INT4_MAX)
        "/products/99999999999",
        "/brands/5/products",  # another route
        "/products",
        "/brand/5",
    ],
)
def test_everything_else_goes_to_fastapi(path: str) -> None:
    assert point_read(path) is None
