"""nginx as the edge: security headers, per-client limits, slow clients, and a backend that is down."""

import asyncio
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from dev.stack import Stack

# Loopback addresses that are not exempt from the limits (make bench and make loadtest come from
# 127.0.0.1, which is); one per test, so each starts with a full allowance.
RATE_LIMITED_CLIENT = "127.0.0.2"
CONNECTION_LIMITED_CLIENT = "127.0.0.3"


@pytest.mark.parametrize("path", ["/", "/api/brands", "/legacy/brands", "/api/nope"])
def test_security_headers_are_on_every_response(http: httpx.Client, path: str) -> None:
    headers = http.get(path).headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["server"] == "nginx"  # no version


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/", {"GET", "HEAD"}),  # nginx's own 405s: the page's files
        ("DELETE", "/index.html", {"GET", "HEAD"}),
        ("PUT", "/api/products/1", {"GET", "DELETE"}),  # the services' 405s, passed through
        ("POST", "/legacy/brands", {"GET", "HEAD"}),
    ],
)
def test_a_405_names_the_allowed_methods_once(http: httpx.Client, method: str, path: str, allowed: set) -> None:
    response = http.request(method, path)
    assert response.status_code == 405
    assert len(response.headers.get_list("allow")) == 1, response.headers.get_list("allow")
    assert {name.strip() for name in response.headers["allow"].split(",")} == allowed
    assert response.json()["error"] == "method_not_allowed"
    assert response.headers["x-content-type-options"] == "nosniff"  # still beside it


def test_only_a_405_carries_allow(http: httpx.Client) -> None:
    assert "allow" not in http.get("/").headers
    assert "allow" not in http.get("/nope.html").headers


def test_the_page_may_only_talk_to_its_own_origin(http: httpx.Client) -> None:
    policy = http.get("/").headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy


def test_the_api_docs_page_is_not_blocked_by_the_page_policy(http: httpx.Client) -> None:
    response = http.get("/api/docs")
    assert response.status_code == 200
    assert "content-security-policy" not in response.headers


def test_service_headers_do_not_leak_the_server_software(http: httpx.Client) -> None:
    for path in ("/api/brands", "/legacy/brands"):
        headers = http.get(path).headers
        assert "uvicorn" not in headers.get("server", "") and "Python" not in headers.get("server", "")
        assert "x-powered-by" not in headers


@pytest.mark.native
def test_a_client_over_the_request_rate_gets_a_json_429(stack: Stack) -> None:
    limited = httpx.Client(base_url=stack.http_url, transport=httpx.HTTPTransport(local_address=RATE_LIMITED_CLIENT))
    exempt = httpx.Client(base_url=stack.http_url)
    with limited, exempt, ThreadPoolExecutor(max_workers=8) as pool:
        # Eight at a time: well over 50 requests a second even on a busy machine.
        statuses = list(pool.map(lambda _: limited.get("/api/healthz").status_code, range(600)))
        assert set(statuses) == {200, 429}
        assert statuses.count(200) >= 100  # the burst allowance
        refused = limited.get("/api/healthz")
        assert refused.status_code == 429
        assert refused.json()["error"] == "too_many_requests"
        # Others, and the exempt load generator, are unaffected.
        exempt_statuses = list(pool.map(lambda _: exempt.get("/api/healthz").status_code, range(600)))
        assert set(exempt_statuses) == {200}


@pytest.mark.native
def test_a_client_over_the_connection_limit_gets_429(stack: Stack) -> None:
    url = stack.http_url.replace("http", "ws", 1) + "/counter"

    async def open_many(count: int) -> tuple[int, list[int]]:
        sockets, refusals = [], []
        try:
            for _ in range(count):
                try:
                    # max_queue=None: these sockets never read the count updates; a bounded queue
                    # would stop the client reading, and so seeing the server's close frame.
                    sockets.append(
                        await websockets.connect(url, local_addr=(CONNECTION_LIMITED_CLIENT, 0), open_timeout=5, max_queue=None)
                    )
                except InvalidStatus as refused:
                    refusals.append(refused.response.status_code)
                await asyncio.sleep(1 / 40)  # under the request rate limit: only the connection limit bites
            return len(sockets), refusals
        finally:
            await asyncio.gather(*(s.close() for s in sockets))

    held, refusals = asyncio.run(open_many(270))
    assert held == 256
    assert refusals and set(refusals) == {429}


def closed_by_peer(connection: socket.socket) -> bool:
    try:
        return connection.recv(4096) == b""
    except ConnectionResetError:  # reset_timedout_connection: a reset rather than a FIN
        return True


def test_a_slow_client_is_cut_off_without_holding_up_others(base_url: str, http: httpx.Client) -> None:
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as slow:
        slow.sendall(b"GET /api/brands HTTP/1.1\r\nHost: x\r\n")  # ... and never finishes the headers
        started = time.monotonic()
        assert http.get("/api/brands").status_code == 200
        assert closed_by_peer(slow)  # nginx cuts it off (client_header_timeout)
        assert time.monotonic() - started < 15


@pytest.mark.native
def test_a_backend_down_gives_json_502_on_its_route_only(stack: Stack, http: httpx.Client) -> None:
    stack.stop_process("api")
    try:
        response = http.get("/api/brands")
        assert response.status_code == 502
        assert response.json() == {
            "error": "service_unavailable",
            "detail": "the service behind this route is unavailable; retry shortly",
        }
        assert http.get("/legacy/brands").status_code == 200
        assert http.get("/").status_code == 200
        assert http.get("/counter/healthz").status_code == 200
    finally:
        stack.start_service("api")
        stack.wait_ready()
    assert http.get("/api/brands").status_code == 200
