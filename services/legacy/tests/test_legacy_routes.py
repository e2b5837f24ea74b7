"""/legacy through nginx against the seeded database: every route, every error, parity with /api."""

import datetime

import httpx
import pytest

# A spread over the seeded catalogue (1000 products at seed scale 1), first and last included.
SEEDED_PRODUCT_IDS = [1, 2, 17, 250, 501, 999, 1000]


def assert_json_error(response: httpx.Response, status: int, error: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert body["error"] == error
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def test_time_has_the_classic_shape(http: httpx.Client) -> None:
    response = http.get("/legacy/time")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"month", "day", "time"}
    # str(datetime.time()): "HH:MM:SS" or "HH:MM:SS.ffffff", whichever the clock gives.
    datetime.time.fromisoformat(body["time"])
    # The service's clock and time zone are its own (UTC in the container): check ranges only.
    datetime.date(2000, body["month"], body["day"])


def test_brands_are_the_seeded_rows_in_the_api_shape(http: httpx.Client) -> None:
    response = http.get("/legacy/brands")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    brands = response.json()
    assert len(brands) == 100
    assert brands[0] == {"brand_id": 1, "brand_name": "Northwind Outfitters"}
    assert [b["brand_id"] for b in brands] == list(range(1, 101))
    assert brands == http.get("/api/brands").json()
    # Same bytes, not just the same values: compact JSON, same key order.
    assert response.content == http.get("/api/brands").content


@pytest.mark.parametrize("product_id", SEEDED_PRODUCT_IDS)
def test_product_matches_the_api(http: httpx.Client, product_id: int) -> None:
    legacy = http.get(f"/legacy/products/{product_id}")
    assert legacy.status_code == 200
    assert legacy.headers["content-type"] == "application/json"
    assert set(legacy.json()) == {"product_id", "product_name", "brand_id"}
    assert legacy.json()["product_id"] == product_id
    assert legacy.content == http.get(f"/api/products/{product_id}").content


def test_leading_zeros_name_the_same_product(http: httpx.Client) -> None:
    assert http.get("/legacy/products/007").json() == http.get("/legacy/products/7").json()


def test_unknown_product_is_a_404_identical_to_the_api(http: httpx.Client) -> None:
    legacy = http.get("/legacy/products/999999")
    body = assert_json_error(legacy, 404, "not_found")
    assert body == {"error": "not_found", "detail": "product 999999 does not exist"}
    assert body == http.get("/api/products/999999").json()


@pytest.mark.parametrize(
    "raw_id",
    ["0", "-1", "-0", "2147483648", "9223372036854775808", "99999999999999999999999", "0" * 30 + "1" * 30],
)
def test_ids_no_row_can_have_are_404_not_500(http: httpx.Client, raw_id: str) -> None:
    assert_json_error(http.get(f"/legacy/products/{raw_id}"), 404, "not_found")


def test_a_huge_integer_id_is_404_and_not_echoed_in_full(http: httpx.Client) -> None:
    body = assert_json_error(http.get("/legacy/products/" + "9" * 5000), 404, "not_found")
    assert len(body["detail"]) < 100


@pytest.mark.parametrize("raw_id", ["abc", "1.5", "1e3", "0x10", "+1", "1_000", "%20 7", "%D9%A3", "--1"])
def test_a_non_integer_id_is_a_400(http: httpx.Client, raw_id: str) -> None:
    body = assert_json_error(http.get(f"/legacy/products/{raw_id}"), 400, "bad_request")
    assert "integer" in body["detail"]


@pytest.mark.parametrize(
    "path", ["/legacy/nope", "/legacy/", "/legacy/products", "/legacy/brands/1", "/legacy/legacy/brands"]
)
def test_an_unknown_path_is_a_json_404_like_the_api(http: httpx.Client, path: str) -> None:
    body = assert_json_error(http.get(path), 404, "not_found")
    assert body == http.get("/api/nope").json() == {"error": "not_found", "detail": "Not Found"}


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", ["/legacy/brands", "/legacy/time", "/legacy/products/1", "/legacy/readyz"])
def test_a_wrong_method_is_a_json_405_with_allow(http: httpx.Client, method: str, path: str) -> None:
    response = http.request(method, path)
    body = assert_json_error(response, 405, "method_not_allowed")
    assert body == {"error": "method_not_allowed", "detail": "Method Not Allowed"}
    assert {m.strip() for m in response.headers["allow"].split(",")} == {"GET", "HEAD"}


def test_the_405_body_and_allow_match_the_api(http: httpx.Client) -> None:
    legacy, api = http.post("/legacy/brands"), http.post("/api/brands")
    assert legacy.json() == api.json()
    allowed = [{m.strip() for m in r.headers["allow"].split(",")} for r in (legacy, api)]
    assert allowed[0] >= allowed[1] - {"HEAD"}


def test_head_answers_without_a_body(http: httpx.Client) -> None:
    response = http.head("/legacy/brands")
    assert response.status_code == 200
    assert response.content == b""


def test_health_and_readiness(http: httpx.Client) -> None:
    for path, expected in (("/legacy/healthz", {"status": "ok"}), ("/legacy/readyz", {"status": "ready"})):
        response = http.get(path)
        assert response.status_code == 200
        assert response.json() == expected == http.get(path.replace("/legacy", "/api")).json()


def test_a_trailing_slash_is_a_404_not_a_redirect_to_an_unprefixed_url(http: httpx.Client) -> None:
    # nginx strips /legacy, so a redirect built by the service would send clients to /brands.
    response = http.get("/legacy/brands/", follow_redirects=False)
    assert_json_error(response, 404, "not_found")
    assert "location" not in response.headers
