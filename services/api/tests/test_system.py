"""Time, health probes, errors outside any route, and the OpenAPI document and docs through nginx."""

import asyncio
import datetime

import httpx
import pytest
from api.main import create_app

DB_ROUTES = {
    ("get", "/brands"),
    ("get", "/brands/{brand_id}"),
    ("get", "/brands/{brand_id}/products"),
    ("get", "/products"),
    ("post", "/products"),
    ("get", "/products/{product_id}"),
    ("delete", "/products/{product_id}"),
    ("get", "/readyz"),
}


def test_time_is_month_day_and_time_of_day(http: httpx.Client) -> None:
    body = http.get("/api/time").json()
    assert set(body) == {"month", "day", "time"}
    # The service's clock may be in another time zone (a UTC container): a day either side.
    today = datetime.date.today()
    days = {today + datetime.timedelta(days=shift) for shift in (-1, 0, 1)}
    assert (body["month"], body["day"]) in {(day.month, day.day) for day in days}
    datetime.time.fromisoformat(body["time"])


def test_probes(http: httpx.Client) -> None:
    assert http.get("/api/healthz").json() == {"status": "ok"}
    assert http.get("/api/readyz").json() == {"status": "ready"}


def test_unknown_path_is_404_json(http: httpx.Client) -> None:
    response = http.get("/api/no/such/thing")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "Not Found"}


@pytest.fixture(scope="module")
def openapi(base_url: str) -> dict:
    response = httpx.get(f"{base_url}/api/openapi.json", timeout=10)
    assert response.status_code == 200
    return response.json()


def test_openapi_document_points_clients_at_the_public_prefix(openapi: dict) -> None:
    assert openapi["servers"] == [{"url": "/api"}]
    assert {(method, path) for path, ops in openapi["paths"].items() for method in ops} == DB_ROUTES | {
        ("get", "/time"),
        ("get", "/healthz"),
    }


def test_every_response_is_declared_with_our_models(openapi: dict) -> None:
    schemas = openapi["components"]["schemas"]
    # FastAPI's default validation error models are replaced by ours everywhere.
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            success = [code for code in responses if code.startswith("2")]
            assert len(success) == 1, (method, path)
            if success != ["204"]:
                assert "schema" in responses[success[0]]["content"]["application/json"], (method, path)
            for code, response in responses.items():
                if not code.startswith("2"):
                    assert response["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/Error"
                    }, (method, path, code)
            has_input = "parameters" in operation or "requestBody" in operation
            assert ("422" in responses) == has_input, (method, path)
            assert ("503" in responses) == ((method, path) in DB_ROUTES), (method, path)
    assert set(schemas["Error"]["required"]) == {"error", "detail"}
    assert "location" in {
        h.lower() for h in openapi["paths"]["/products"]["post"]["responses"]["201"]["headers"]
    }


def test_docs_page_loads_the_document_through_nginx(http: httpx.Client) -> None:
    response = http.get("/api/docs")
    assert response.status_code == 200
    assert "/api/openapi.json" in response.text
    assert http.get("/api/openapi.json").status_code == 200


def test_an_unexpected_exception_is_a_json_500() -> None:
    """No route fails this way on purpose, so this one is in process: a route added to break."""
    app = create_app()

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    async def get_boom() -> httpx.Response:
        # The lifespan (and its pool) does not run: this route needs neither.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.get("/boom")

    response = asyncio.run(get_boom())
    assert response.status_code == 500
    assert response.json() == {"error": "internal_error", "detail": "internal server error"}
