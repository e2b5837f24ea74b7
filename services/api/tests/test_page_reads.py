"""Which pages api.page_reads answers itself: only queries FastAPI would read as they are. Its answers
are checked through nginx with everything else (test_products, tests/test_fresh_reads_live); here,
that nothing else is taken away from FastAPI's validation."""

import pytest
from api.models import MAX_PAGE, PAGE_SIZE
from api.page_reads import page_key
from api.routes.products import PageKey

from tests.helpers import INT4_MAX


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (b"", PageKey(0, PAGE_SIZE, None)),
        (b"after=0", PageKey(0, PAGE_SIZE, None)),
        (b"after=150", PageKey(150, PAGE_SIZE, None)),
        (b"limit=2&after=998", PageKey(998, 2, None)),
        (b"after=3&brand_id=7&limit=2", PageKey(3, 2, 7)),
        (
            f"limit={MAX_PAGE}&after={INT4_MAX}&brand_id={INT4_MAX}".encode(),
            PageKey(INT4_MAX, MAX_PAGE, INT4_MAX),
        ),
    ],
)
def test_plain_queries_are_page_reads(query: bytes, expected: PageKey) -> None:
    assert page_key(query) == expected


@pytest.mark.parametrize(
    "query",
    [
        b"limit=0",  # 422 from FastAPI (ge=1)
        f"limit={MAX_PAGE + 1}".encode(),  # 422 (le=MAX_PAGE)
        b"brand_id=0",
        f"after={INT4_MAX + 1}".encode(),
        b"after=99999999999",
        b"after=05",  # FastAPI reads it as 5: its answer, not ours
        b"after=00",
        b"after=-1",
        b"after=+1",
        b"after=1.0",
        b"after=%31",  # percent-encoded 1
        b"after=",
        b"after",
        b"limit=1&limit=2",  # given twice
        b"foo=1",  # a parameter FastAPI ignores
        b"limit=1&",
        b"&limit=1",
        "after=٣".encode(),  # a non-ASCII digit
    ],
)
def test_every_other_query_goes_to_fastapi(query: bytes) -> None:
    assert page_key(query) is None
