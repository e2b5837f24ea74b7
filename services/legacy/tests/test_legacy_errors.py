"""The error middleware in process, for failures no real route can be made to produce on demand.

The app comes from the real factory (its pool connects lazily, so no database is needed); only the
failing routes are added here, to the test's copy of the app, never to the service.
"""

import asyncio
import logging

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from legacy.app import create_app
from legacy.settings import Settings


def answer_when_raising(exc: Exception) -> tuple[int, str, dict]:
    async def failing(request: web.Request) -> web.Response:
        raise exc

    async def scenario() -> tuple[int, str, dict]:
        # Port 9 (discard): nothing listens, and nothing connects before a request needs it.
        app = create_app(Settings(database_url="postgresql://legacy@127.0.0.1:9/products"))
        app.router.add_get("/failing", failing)
        async with TestClient(TestServer(app)) as client:
            response = await client.get("/failing")
            return response.status, response.content_type, await response.json()

    return asyncio.run(scenario())


def test_a_bug_is_a_json_500_and_logged_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="legacy.errors"):
        status, content_type, body = answer_when_raising(ZeroDivisionError("a bug"))
    assert (status, content_type) == (500, "application/json")
    assert body == {"error": "internal_error", "detail": "internal server error"}
    assert "a bug" not in str(body)  # no internals to the client...
    assert any(r.exc_info and r.exc_info[0] is ZeroDivisionError for r in caplog.records)  # ...all in the log


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "refused"),
        TimeoutError(),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.CannotConnectNowError("the database system is shutting down"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_database_unavailability_is_a_json_503(exc: Exception) -> None:
    status, content_type, body = answer_when_raising(exc)
    assert (status, content_type) == (503, "application/json")
    assert body["error"] == "database_unavailable"


def test_an_ordinary_query_error_is_a_500_not_a_503() -> None:
    # A broken query is our bug, not an outage: retrying would not help the client.
    status, _, body = answer_when_raising(asyncpg.UndefinedColumnError('column "x" does not exist'))
    assert status == 500
    assert body["error"] == "internal_error"
