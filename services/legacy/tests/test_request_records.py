"""legacy's request records in process (legacy.request_records), one middleware for the request id,
the audit line and the metrics: with metrics on, every request is one observation under its route
template, method and status, whether or not it carries a request id (nginx sends one, a client of
the service's own port may not); its id comes back on every answer, json_errors' included; a write
attempt leaves one audit line; with metrics off, nothing is counted."""

import asyncio
import logging

import pytest
from aiohttp.test_utils import TestClient, TestServer
from legacy.app import create_app
from legacy.routes import BRANDS_JSON
from legacy.settings import Settings
from stack_common.metrics_flush import FLUSHER

from tests.helpers import FailingBrandsRead, requests_counted

# (method, path, the route template counted, status); none of them reaches the database.
REQUESTS = [
    ("GET", "/healthz", "/healthz", 200),
    ("GET", "/no-such-route", "unmatched", 404),
    # aiohttp matches no route for a method it lacks. The service has no writes: each attempt leaves
    # an audit line all the same.
    ("PATCH", "/brands", "unmatched", 405),
    ("POST", "/products/1", "unmatched", 405),
    ("GET", "/brands", "/brands", 500),  # its read fails (FailingBrandsRead): json_errors' 500
]


def send_each(metrics_on: bool, request_id: str | None) -> list[tuple[int, str | None]]:
    """Each request's status and the X-Request-ID it came back with."""
    # Port 9 (discard): nothing listens, and nothing connects before a request needs it.
    database_url = "postgresql://legacy@127.0.0.1:9/products"
    app = create_app(Settings(database_url=database_url, metrics_port=9101 if metrics_on else 0))
    app[BRANDS_JSON] = FailingBrandsRead()
    headers = {"X-Request-ID": request_id} if request_id is not None else {}

    async def send() -> list[tuple[int, str | None]]:
        async with TestClient(TestServer(app)) as client:
            answers = []
            for method, path, _, _ in REQUESTS:
                response = await client.request(method, path, headers=headers)
                answers.append((response.status, response.headers.get("X-Request-ID")))
            return answers

    answers = asyncio.run(send())
    FLUSHER.flush()  # what the timer would write within a second
    return answers


@pytest.mark.parametrize("request_id", ["req-records-1", None])
@pytest.mark.parametrize("metrics_on", [True, False])
def test_each_request_is_counted_once_with_its_route_and_status(
    metrics_on: bool, request_id: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    before = [requests_counted(route, method, status) for method, _, route, status in REQUESTS]
    with caplog.at_level(logging.INFO, logger="audit"):
        answers = send_each(metrics_on, request_id)
    assert answers == [(status, request_id) for _, _, _, status in REQUESTS]
    after = [requests_counted(route, method, status) for method, _, route, status in REQUESTS]
    assert [a - b for a, b in zip(after, before)] == [1 if metrics_on else 0] * len(REQUESTS)
    audit = [record for record in caplog.records if record.name == "audit"]
    assert [(r.method, r.path, r.status, r.request_id) for r in audit] == [
        ("PATCH", "/brands", 405, request_id),
        ("POST", "/products/1", 405, request_id),
    ]
