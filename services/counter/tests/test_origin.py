"""Cross-site websocket hijacking: a page on another site may not open /counter in its visitor's
name. A browser's Origin other than the site's own (or one listed in ALLOWED_ORIGINS) is refused
with 403 before the upgrade; clients that send no Origin (not browsers) are let in. The page this
site serves is checked in a real browser by test_page.py, natively and in compose."""

import asyncio
import json
import socket
from urllib.parse import urlsplit

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from dev.stack import Stack

TIMEOUT = 10.0


def first_count(url: str, origin: str | None) -> int:
    async def open_and_read() -> int:
        async with connect(url, origin=origin, open_timeout=TIMEOUT) as socket:  # type: ignore[arg-type]
            return int(await asyncio.wait_for(socket.recv(), TIMEOUT))

    return asyncio.run(open_and_read())


def refusal(url: str, origin: str) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as refused:
        first_count(url, origin)
    return refused.value


def own_origin(url: str) -> str:
    """The origin of the page a browser loaded from this site: http://host:port."""
    parts = urlsplit(url)
    return f"{'https' if parts.scheme == 'wss' else 'http'}://{parts.netloc}"


FOREIGN = [
    "http://evil.example",
    "https://evil.example",
    "null",  # sandboxed frames, file:// pages
    "http://{host}.evil.example",  # our host name as a prefix of theirs
    "http://{host}@evil.example",  # ours as userinfo; the host is theirs
    "http://evil.example/{host}",
    "ftp://{host}",
    "http://[::1",  # malformed
]


@pytest.mark.parametrize("origin", FOREIGN)
def test_a_foreign_origin_is_refused_before_the_upgrade(ws_url: str, origin: str) -> None:
    origin = origin.format(host=urlsplit(ws_url).hostname)
    refused = refusal(ws_url, origin)
    assert refused.response.status_code == 403
    assert json.loads(refused.response.body)["error"] == "forbidden"


def test_the_sites_own_page_may_connect(ws_url: str) -> None:
    assert first_count(ws_url, own_origin(ws_url)) >= 1


def handshake_status(ws_url: str, host: str, origin: str) -> int:
    """The status of a websocket handshake sent with this Host and Origin (a browser sends both)."""
    parts = urlsplit(ws_url)
    headers = [
        f"GET {parts.path} HTTP/1.1", f"Host: {host}", f"Origin: {origin}", "Upgrade: websocket",
        "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13",
    ]  # fmt: skip
    request = "\r\n".join(headers) + "\r\n\r\n"
    with socket.create_connection((parts.hostname, parts.port), timeout=TIMEOUT) as connection:
        connection.sendall(request.encode())
        status_line = connection.makefile("rb").readline().decode()
    return int(status_line.split()[1])


def test_the_page_under_another_name_of_the_host_may_connect(ws_url: str) -> None:
    """The site's own origin is the name the browser used (nginx passes its Host on), not the
    address nginx reaches the counter at: a page opened as http://localhost:<port>/ connects too."""
    port = urlsplit(ws_url).port
    assert handshake_status(ws_url, f"localhost:{port}", f"http://localhost:{port}") == 101
    assert handshake_status(ws_url, f"localhost:{port}", "http://evil.example") == 403


def test_clients_without_an_origin_may_connect(ws_url: str) -> None:
    assert first_count(ws_url, None) >= 1


@pytest.mark.native
def test_listed_origins_may_connect_and_only_those(stack: Stack) -> None:
    allowed = {"ALLOWED_ORIGINS": "https://shop.example, https://b.example/"}
    url = stack.start_service_instance("counter", "counter-origins", env=allowed)
    ws = url.replace("http", "ws", 1) + "/"
    try:
        stack.wait_ready([f"{url}/healthz"])
        assert first_count(ws, "https://shop.example") >= 1
        assert first_count(ws, "https://B.example") >= 1  # origins compare case-insensitively
        assert refusal(ws, "http://shop.example").response.status_code == 403  # another scheme
        assert refusal(ws, "https://shop.example:8443").response.status_code == 403  # another port
    finally:
        stack.stop_process("counter-origins")
