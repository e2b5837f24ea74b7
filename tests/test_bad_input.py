"""Bad input, table-driven: every row is sent through nginx and must get the status it names and a
JSON error body, never a 5xx. The count of rows is printed at the end of the run (conftest.py)."""

from dataclasses import dataclass, field

import httpx
import pytest

from dev.stack import ROOT
from tests.helpers import FIRST_PRODUCT, SEEDED_BRANDS

BIG = "x" * 100_000


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    expected: frozenset[int]
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


def case(name: str, method: str, path: str, *expected: int, body: str | bytes | None = None, **headers: str) -> Case:
    raw = body.encode() if isinstance(body, str) else body
    return Case(name, method, path, frozenset(expected), raw, {k.replace("_", "-"): v for k, v in headers.items()})


JSON = {"content_type": "application/json"}

CASES = [
    # Ids that are not integers, not positive, beyond 32 and 64 bits, or carry SQL.
    case("api id not an integer", "GET", "/api/products/abc", 422),
    case("api id a float", "GET", "/api/products/1.5", 422),
    case("api id negative", "GET", "/api/products/-1", 422),
    case("api id zero", "GET", "/api/products/0", 422),
    case("api id beyond int32", "GET", "/api/products/2147483648", 422),
    case("api id beyond int64", "GET", "/api/products/99999999999999999999999", 422),
    case("api id with SQL", "GET", "/api/products/1%3B%20DROP%20TABLE%20product", 422),
    case("api id with OR 1=1", "GET", "/api/products/1%20OR%201%3D1", 422),
    case("api brand id not an integer", "GET", "/api/brands/abc", 422),
    case("api brand id beyond int64", "GET", "/api/brands/99999999999999999999999/products", 422),
    case("api unknown product", "GET", "/api/products/999999", 404),
    case("api unknown brand", "GET", "/api/brands/999999", 404),
    case("legacy id not an integer", "GET", "/legacy/products/abc", 400),
    case("legacy id a float", "GET", "/legacy/products/1.5", 400),
    case("legacy id negative", "GET", "/legacy/products/-1", 400, 404),
    case("legacy id zero", "GET", "/legacy/products/0", 400, 404),
    case("legacy id beyond int32", "GET", "/legacy/products/2147483648", 400, 404),
    case("legacy id beyond int64", "GET", "/legacy/products/99999999999999999999999", 400, 404),
    case("legacy id with SQL", "GET", "/legacy/products/1%3B%20DROP%20TABLE%20product", 400),
    case("legacy unknown product", "GET", "/legacy/products/999999", 404),
    case("api id a space", "GET", "/api/products/%20", 422),
    case("api id in hex", "GET", "/api/products/0x10", 422),
    case("api id with an exponent", "GET", "/api/products/1e3", 422),
    case("legacy id in hex", "GET", "/legacy/products/0x10", 400),
    case("legacy id digits then letters", "GET", "/legacy/products/12abc", 400),
    case("brand products of brand zero", "GET", "/api/brands/0/products", 422),
    case("brand products of a negative brand", "GET", "/api/brands/-3/products", 422),
    case("brand products of an unknown brand", "GET", "/api/brands/999999/products", 404),
    # Query parameters out of range.
    case("page limit zero", "GET", "/api/products?limit=0", 422),
    case("page limit huge", "GET", "/api/products?limit=100000", 422),
    case("page cursor negative", "GET", "/api/products?after=-5", 422),
    case("page cursor not an integer", "GET", "/api/products?after=abc", 422),
    case("brand filter not an integer", "GET", "/api/products?brand_id=abc", 422),
    case("page limit negative", "GET", "/api/products?limit=-1", 422),
    case("page limit not an integer", "GET", "/api/products?limit=abc", 422),
    case("page limit over 500", "GET", "/api/products?limit=501", 422),
    case("page cursor beyond int64", "GET", "/api/products?after=99999999999999999999", 422),
    # Unknown paths.
    case("unknown api path", "GET", "/api/nope", 404),
    case("unknown legacy path", "GET", "/legacy/nope", 404),
    case("unknown page", "GET", "/nope.html", 404),
    case("unknown counter path", "GET", "/counter/nope", 404),
    case("path traversal", "GET", "/../../etc/passwd", 400, 404),
    case("encoded path traversal", "GET", "/%2e%2e/%2e%2e/etc/passwd", 400, 404),
    case("invalid percent-encoding", "GET", "/api/products/%zz", 400),
    case("legacy product without an id", "GET", "/legacy/products/", 404),
    case("below a product", "GET", "/api/products/1/nope", 404),
    case("below a file of the page", "GET", "/index.html/x", 404),
    # Wrong methods.
    case("delete all brands", "DELETE", "/api/brands", 405),
    case("put a product", "PUT", "/api/products/1", 405),
    case("post to legacy brands", "POST", "/legacy/brands", 405),
    case("delete a legacy product", "DELETE", "/legacy/products/1", 405),
    case("post to the page", "POST", "/", 405),
    case("TRACE", "TRACE", "/api/brands", 405),
    case("OPTIONS", "OPTIONS", "/api/brands", 405),
    case("patch a product", "PATCH", "/api/products/1", 405),
    case("post to api brands", "POST", "/api/brands", 405),
    case("post to a product", "POST", "/api/products/1", 405),
    case("delete all products", "DELETE", "/api/products", 405),
    case("put a legacy product", "PUT", "/legacy/products/1", 405),
    case("post to the time", "POST", "/api/time", 405),
    case("delete the page", "DELETE", "/", 405),
    # Methods nothing here knows stop at nginx (a service's parser would answer in plain text).
    case("unknown method on the api", "FOO", "/api/brands", 405),
    case("unknown method on legacy", "BREW", "/legacy/brands", 405),
    case("WebDAV method", "PROPFIND", "/api/products/1", 405),
    # A NUL byte in the path stops at nginx; in a body it cannot be stored as text.
    case("NUL in an api path", "GET", "/api/products/1%00", 400),
    case("NUL in a legacy path", "GET", "/legacy/products/%00", 400),
    case("NUL in a name", "POST", "/api/products", 422, body='{"product_name": "a\\u0000b", "brand_id": 1}', **JSON),
    # Bodies: malformed, wrong shape, wrong types, unknown brand, too large.
    case("malformed JSON", "POST", "/api/products", 422, body="{", **JSON),
    case("JSON null", "POST", "/api/products", 422, body="null", **JSON),
    case("JSON array", "POST", "/api/products", 422, body="[]", **JSON),
    case("missing fields", "POST", "/api/products", 422, body="{}", **JSON),
    case("wrong types", "POST", "/api/products", 422, body='{"product_name": 5, "brand_id": "x"}', **JSON),
    case("empty name", "POST", "/api/products", 422, body='{"product_name": "  ", "brand_id": 1}', **JSON),
    case("name too long", "POST", "/api/products", 422, body='{"product_name": "%s", "brand_id": 1}' % ("n" * 5000), **JSON),
    case("unknown brand", "POST", "/api/products", 409, 422, body='{"product_name": "x", "brand_id": 999999}', **JSON),
    case("brand beyond int64", "POST", "/api/products", 422, body='{"product_name": "x", "brand_id": 1e30}', **JSON),
    case("body not UTF-8", "POST", "/api/products", 400, body=b"S\x0f\xff", **JSON),
    case("not JSON at all", "POST", "/api/products", 422, body="product_name=x&brand_id=1", content_type="application/x-www-form-urlencoded"),
    case("body over 64 KiB", "POST", "/api/products", 413, body='{"product_name": "%s", "brand_id": 1}' % BIG, **JSON),
    case("body over 64 KiB to legacy", "POST", "/legacy/brands", 413, body=BIG),
    case("body over 64 KiB on a delete", "DELETE", "/api/products/1", 413, body=BIG),
    case("JSON number", "POST", "/api/products", 422, body="5", **JSON),
    case("JSON string", "POST", "/api/products", 422, body='"x"', **JSON),
    case("name null", "POST", "/api/products", 422, body='{"product_name": null, "brand_id": 1}', **JSON),
    case("name an object", "POST", "/api/products", 422, body='{"product_name": {"a": [1]}, "brand_id": 1}', **JSON),
    case("brand zero", "POST", "/api/products", 409, 422, body='{"product_name": "x", "brand_id": 0}', **JSON),
    case("brand a boolean", "POST", "/api/products", 422, body='{"product_name": "x", "brand_id": true}', **JSON),
    case("brand a fraction", "POST", "/api/products", 422, body='{"product_name": "x", "brand_id": 1.5}', **JSON),
    # Oversized URLs and headers stop at nginx.
    case("URL over 8 KiB", "GET", "/api/products/" + "1" * 9000, 414),
    case("header over 8 KiB", "GET", "/api/brands", 400, x_padding="p" * 9000),
    case("cookie over 8 KiB", "GET", "/", 400, cookie="c=" + "p" * 9000),
    case("headers over 32 KiB in all", "GET", "/api/brands", 400, **{f"x_pad_{i}": "p" * 7000 for i in range(5)}),
    case("request id over 8 KiB", "GET", "/api/brands", 400, x_request_id="r" * 9000),
    # The websocket route without a websocket handshake.
    case("plain GET on the websocket", "GET", "/counter", 400, 426),
    case("POST on the websocket", "POST", "/counter", 400, 405, 426),
    case("bad websocket version", "GET", "/counter", 400, 426, upgrade="websocket", sec_websocket_version="7", sec_websocket_key="bad"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_with_a_json_error(http: httpx.Client, case: Case) -> None:
    response = http.request(case.method, case.path, content=case.body, headers=case.headers)
    assert response.status_code in case.expected, response.text[:300]
    assert response.status_code < 500
    if case.path == "/counter":
        return  # the websocket server answers a failed handshake in plain text
    assert response.headers["content-type"].startswith("application/json"), response.text[:300]
    assert set(response.json()) == {"error", "detail"}


def test_the_readme_states_the_size_of_the_table() -> None:
    assert f"a table of {len(CASES)} cases" in (ROOT / "README.md").read_text()


def test_nothing_stored_was_lost_or_changed(http: httpx.Client) -> None:
    """After all of the above, the seeded rows read as before."""
    assert len(http.get("/api/brands").json()) == SEEDED_BRANDS
    assert http.get("/api/products/1").json() == FIRST_PRODUCT
