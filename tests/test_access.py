"""Writes need the api's bearer token; reads stay public. Through nginx, native and compose alike.

A write refused for want of a token changes nothing: the product a refused POST names is never
created, the product a refused DELETE names is still there.
"""

import uuid

import httpx
import pytest

NEW = {"brand_id": 7}


def brand_products(http: httpx.Client, brand_id: int) -> list[dict]:
    return http.get(f"/api/brands/{brand_id}/products?limit=500").json()["items"]


def assert_unauthorized(response: httpx.Response, error: str | None = None) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "unauthorized"
    assert isinstance(response.json()["detail"], str)
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer")
    if error is not None:
        assert f'error="{error}"' in challenge


def wrong_tokens(token: str) -> dict[str, dict[str, str]]:
    """Authorization headers that must not write, by what is wrong with them."""
    return {
        "no header": {},
        "a bearer without a token": {"Authorization": "Bearer"},
        "another token": {"Authorization": f"Bearer {uuid.uuid4().hex}"},
        "the token minus its last character": {"Authorization": f"Bearer {token[:-1]}"},
        "the token plus a character": {"Authorization": f"Bearer {token}x"},
        "the token's first half": {"Authorization": f"Bearer {token[: len(token) // 2]}"},
        "the token in another case": {"Authorization": f"Bearer {token.swapcase()}"},
        "the token as Basic credentials": {"Authorization": f"Basic {token}"},
        "the token without a scheme": {"Authorization": token},
        "the token in another header": {"X-Api-Token": token},
    }


WRONG = list(wrong_tokens("placeholder"))


@pytest.mark.parametrize("wrong", WRONG)
def test_a_create_without_the_token_is_refused_and_creates_nothing(
    anonymous: httpx.Client, http: httpx.Client, write_token: str, wrong: str
) -> None:
    name = f"intruder {uuid.uuid4().hex[:12]}"
    headers = wrong_tokens(write_token)[wrong]
    response = anonymous.post("/api/products", json={"product_name": name, **NEW}, headers=headers)
    assert_unauthorized(response)
    assert name not in {p["product_name"] for p in brand_products(http, NEW["brand_id"])}


@pytest.mark.parametrize("wrong", WRONG)
def test_a_delete_without_the_token_is_refused_and_deletes_nothing(
    anonymous: httpx.Client, http: httpx.Client, write_token: str, wrong: str
) -> None:
    created = http.post("/api/products", json={"product_name": "keep me", **NEW})
    assert created.status_code == 201
    location = created.headers["location"]
    try:
        assert_unauthorized(anonymous.delete(location, headers=wrong_tokens(write_token)[wrong]))
        assert http.get(location).json() == created.json()
    finally:
        assert http.delete(location).status_code == 204


def test_a_wrong_token_is_named_invalid(anonymous: httpx.Client) -> None:
    response = anonymous.delete("/api/products/1", headers={"Authorization": "Bearer not-a-token"})
    assert_unauthorized(response, error="invalid_token")
    assert anonymous.get("/api/products/1").status_code == 200  # the seeded product is untouched


def test_the_token_is_checked_before_the_body_is_validated(anonymous: httpx.Client) -> None:
    # Without a token nothing about the write is looked at: no validation errors, no 409, no 404.
    assert_unauthorized(anonymous.post("/api/products", json={"product_name": "", "brand_id": 0}))
    assert_unauthorized(anonymous.post("/api/products", json={"product_name": "x", "brand_id": 999_999}))
    assert_unauthorized(anonymous.delete("/api/products/2147483647"))


def test_with_the_token_writes_go_through(http: httpx.Client) -> None:
    created = http.post("/api/products", json={"product_name": "Token Holder Tote", **NEW})
    assert created.status_code == 201
    assert http.delete(created.headers["location"]).status_code == 204


@pytest.mark.parametrize(
    "path",
    [
        "/api/brands", "/api/brands/7", "/api/brands/7/products", "/api/products", "/api/products/1",
        "/api/time", "/api/openapi.json",
    ],  # fmt: skip
)
def test_reads_stay_public(anonymous: httpx.Client, path: str) -> None:
    assert anonymous.get(path).status_code == 200


@pytest.fixture(scope="module")
def openapi(base_url: str) -> dict:
    return httpx.get(f"{base_url}/api/openapi.json", timeout=10).json()


def test_openapi_declares_the_bearer_scheme_on_the_writes_only(openapi: dict) -> None:
    """Swagger UI shows an Authorize button for this scheme and sends the token on these operations."""
    schemes = openapi["components"]["securitySchemes"]
    declared = {name: (scheme["type"], scheme["scheme"]) for name, scheme in schemes.items()}
    assert declared == {"HTTPBearer": ("http", "bearer")}
    secured = {
        (method, path)
        for path, operations in openapi["paths"].items()
        for method, operation in operations.items()
        if operation.get("security")
    }
    assert secured == {("post", "/products"), ("delete", "/products/{product_id}")}
    for method, path in secured:
        operation = openapi["paths"][path][method]
        assert operation["security"] == [{"HTTPBearer": []}]
        assert operation["responses"]["401"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
