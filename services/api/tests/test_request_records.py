"""The api's request records in process (api.request_records), one middleware for the request id,
the audit line and the metrics: with metrics on, every request is one observation under its route
template, method and status, whether or not it carries a request id (nginx sends one, a client of
the service's own port may not); its id comes back either way; with metrics off, nothing is counted."""

import asyncio

import httpx
import pytest
from api.main import create_app
from api.settings import Settings
from stack_common.metrics import FLUSHER

from tests.helpers import FailingBrandsRead, requests_counted

# (method, path, the route template counted, status); none of them reaches the database, which the
# lifespan would open and which does not run here.
REQUESTS = [
    ("GET", "/healthz", "/healthz", 200),
    ("GET", "/no-such-route", "unmatched", 404),
    ("PATCH", "/brands", "/brands", 405),
    ("DELETE", "/products/1", "/products/{product_id}", 401),  # no write token
    ("GET", "/brands", "/brands", 500),  # its read fails (FailingBrandsRead): Starlette's own 500
]


def send_each(metrics_on: bool, request_id: str | None) -> list[httpx.Response]:
    app = create_app(Settings(metrics_port=9100 if metrics_on else 0, write_tokens_file=None))
    app.state.brands_json = FailingBrandsRead()
    headers = {"X-Request-ID": request_id} if request_id is not None else {}

    async def send() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api", headers=headers) as client:
            return [await client.request(method, path) for method, path, _, _ in REQUESTS]

    responses = asyncio.run(send())
    FLUSHER.flush()  # what the timer would write within a second
    return responses


@pytest.mark.parametrize("request_id", ["req-records-1", None])
@pytest.mark.parametrize("metrics_on", [True, False])
def test_each_request_is_counted_once_with_its_route_and_status(
    metrics_on: bool, request_id: str | None
) -> None:
    before = [requests_counted(route, method, status) for method, _, route, status in REQUESTS]
    responses = send_each(metrics_on, request_id)
    assert [response.status_code for response in responses] == [status for _, _, _, status in REQUESTS]
    after = [requests_counted(route, method, status) for method, _, route, status in REQUESTS]
    assert [a - b for a, b in zip(after, before)] == [1 if metrics_on else 0] * len(REQUESTS)
    # The 500 is Starlette's, outside this middleware: only the answers it passes on carry the id.
    assert [response.headers.get("x-request-id") for response in responses[:-1]] == [request_id] * (
        len(REQUESTS) - 1
    )
