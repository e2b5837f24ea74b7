"""Which creates api.plain_creates answers itself: only those FastAPI would accept as they are. Its
answers are checked through nginx with everything else (test_products, test_batched_writes,
test_auth, tests/test_access, tests/test_bad_input: 201, 409, and FastAPI's own 401, 400 and 422
for the rest, bodies handed on as they came); here, that nothing else is taken away from FastAPI."""

from pathlib import Path

import pytest
from api.auth import WriteTokens
from api.plain_creates import MAX_BODY, new_product, plain_create_head

TOKEN = "a-write-token"
BODY = b'{"product_name": "Field Jacket", "brand_id": 7}'
HEADERS = {
    b"authorization": f"Bearer {TOKEN}".encode(),
    b"content-type": b"application/json",
    b"content-length": str(len(BODY)).encode(),
}


def scope(path: str = "/api/products", query: bytes = b"", **changed: bytes | None) -> dict:
    """A request's scope as uvicorn gives it (root_path in front of the path); `changed` replaces
    (or with None drops) a header, named with _ for -."""
    headers = {**HEADERS, **{name.replace("_", "-").encode(): value for name, value in changed.items()}}
    raw = [(name, value) for name, value in headers.items() if value is not None]
    return {"path": path, "root_path": "/api", "query_string": query, "headers": raw}


@pytest.fixture
def tokens(tmp_path: Path) -> WriteTokens:
    path = tmp_path / "tokens"
    path.write_text(f"{TOKEN}\n")
    return WriteTokens(path)


def test_a_plain_create_is_taken(tokens: WriteTokens) -> None:
    assert plain_create_head(scope(), tokens)
    assert plain_create_head(scope(authorization=f"Bearer {TOKEN} ".encode()), tokens)  # FastAPI strips it
    assert plain_create_head(scope(content_length=str(MAX_BODY).encode()), tokens)
    assert new_product(BODY) is not None


@pytest.mark.parametrize(
    "request_scope",
    [
        pytest.param(scope(authorization=None), id="no token"),  # 401 from FastAPI
        pytest.param(scope(authorization=b"Bearer another-token"), id="another token"),
        pytest.param(scope(authorization=f"Bearer {TOKEN}x".encode()), id="token extended"),
        pytest.param(scope(authorization=b"Bearer "), id="empty token"),
        # FastAPI takes a lower-case scheme: its answer, not ours.
        pytest.param(scope(authorization=f"bearer {TOKEN}".encode()), id="lower-case scheme"),
        pytest.param(scope(authorization=f"Basic {TOKEN}".encode()), id="not bearer"),
        pytest.param(scope(content_type=None), id="no content type"),
        pytest.param(scope(content_type=b"text/plain"), id="text"),
        pytest.param(scope(content_type=b"application/json; charset=utf-8"), id="content type with charset"),
        pytest.param(scope(content_length=None), id="no length"),
        pytest.param(scope(content_length=b"0"), id="empty body"),
        pytest.param(scope(content_length=str(MAX_BODY + 1).encode()), id="large body"),
        pytest.param(scope(content_length=b"-5"), id="negative length"),
        pytest.param(scope(transfer_encoding=b"chunked"), id="chunked"),
        pytest.param(scope(query=b"brand_id=7"), id="a query"),
        pytest.param(scope(path="/api/products/"), id="trailing slash"),
        pytest.param(scope(path="/api/products/7"), id="a product"),
        pytest.param(scope(path="/api/brands"), id="another route"),
    ],
)
def test_every_other_request_goes_to_fastapi(tokens: WriteTokens, request_scope: dict) -> None:
    assert not plain_create_head(request_scope, tokens)


def test_without_a_tokens_file_no_create_is_taken() -> None:
    assert not plain_create_head(scope(), WriteTokens(None))


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"null",
        b"[]",
        b'"x"',
        b"{}",
        b'{"product_name": "Field Jacket"}',
        b'{"product_name": "  ", "brand_id": 7}',
        b'{"product_name": "a\\u0000b", "brand_id": 7}',
        b'{"product_name": 5, "brand_id": 7}',
        b'{"product_name": "x", "brand_id": "7"}',
        b'{"product_name": "x", "brand_id": true}',
        b'{"product_name": "x", "brand_id": 1.5}',
        b'{"product_name": "x", "brand_id": 0}',
        b'{"product_name": "x", "brand_id": 2147483648}',
        b'{"product_name": "x", "brand_id": NaN}',
        b'{"product_name": "S\xff", "brand_id": 7}',  # not UTF-8: FastAPI's 400
        b"[" * 100_000,  # nesting deeper than json.loads goes
    ],
)
def test_a_body_fastapi_refuses_goes_to_fastapi(body: bytes) -> None:
    assert new_product(body) is None
