"""Ids in paths: anything that cannot be a row's SERIAL key is a 422 naming the parameter, never a 500."""

import httpx
import pytest

from tests.helpers import INT4_MAX

ROUTES = [
    ("GET", "/api/brands/{}", "brand_id"),
    ("GET", "/api/brands/{}/products", "brand_id"),
    ("GET", "/api/products/{}", "product_id"),
    ("DELETE", "/api/products/{}", "product_id"),
]
INVALID_IDS = [
    ("abc", "int_parsing"),
    ("1.5", "int_parsing"),
    ("1e3", "int_parsing"),
    ("0x10", "int_parsing"),
    ("%20", "int_parsing"),
    ("0", "greater_than_equal"),
    ("-1", "greater_than_equal"),
    (str(INT4_MAX + 1), "less_than_equal"),  # beyond the int4 key
    (str(2**63), "less_than_equal"),  # beyond int64
    ("1" + "0" * 400, "less_than_equal"),
]


@pytest.mark.parametrize(("value", "problem"), INVALID_IDS)
@pytest.mark.parametrize(("method", "path", "name"), ROUTES)
def test_invalid_id_is_422_with_the_problem(
    http: httpx.Client, method: str, path: str, name: str, value: str, problem: str
) -> None:
    response = http.request(method, path.format(value))
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_request"
    assert [(p["loc"], p["type"]) for p in body["detail"]] == [(["path", name], problem)]
