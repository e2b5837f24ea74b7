"""The worker's write joining: a response's head and body leave in one write, nothing reordered or lost.

Real uvicorn on uvloop, serving on a loopback port; what reaches the socket is recorded below our
WriteJoiningTransport, where the kernel would see it.
"""

import asyncio
import socket
import threading

import httpx
import pytest
import uvicorn
import uvloop
from api.worker import HOLD_LIMIT, WriteJoiningHttpToolsProtocol, WriteJoiningTransport
from starlette.applications import Starlette
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

STREAM_CHUNKS = [f"chunk {n};".encode() * (n + 1) for n in range(50)]
LARGE_BODY = b"x" * (HOLD_LIMIT * 4)
# /slow sends its body only once the client has its head (or after this long, saying so).
HEAD_SEEN = threading.Event()
HEAD_WAIT_S = 10


async def small(request):
    return Response(b'{"ok":true}', media_type="application/json")


async def large(request):
    return Response(LARGE_BODY, media_type="application/octet-stream")


async def stream(request):
    async def chunks():
        for chunk in STREAM_CHUNKS:
            yield chunk

    return StreamingResponse(chunks(), media_type="text/plain")


async def slow_body(request):
    # The head is sent, then the body only once the client has read the head: a head held back
    # for the body would never arrive on its own.
    async def chunks():
        seen = await asyncio.to_thread(HEAD_SEEN.wait, HEAD_WAIT_S)
        yield b"late" if seen else b"the head was held back until the body"

    return StreamingResponse(chunks(), media_type="text/plain")


APP = Starlette(
    routes=[
        Route("/small", small),
        Route("/large", large),
        Route("/stream", stream),
        Route("/slow", slow_body),
    ]
)


class RecordingTransport:
    """Passes everything to the real transport and records each write call's data."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.calls: list[bytes] = []
        RECORDERS.append(self)

    def write(self, data: bytes) -> None:
        self.calls.append(bytes(data))
        self.transport.write(data)

    def writelines(self, chunks) -> None:
        chunks = [bytes(chunk) for chunk in chunks]
        self.calls.append(b"".join(chunks))
        self.transport.writelines(chunks)

    def __getattr__(self, name: str):
        return getattr(self.transport, name)


RECORDERS: list[RecordingTransport] = []


class RecordedProtocol(WriteJoiningHttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(RecordingTransport(transport))  # type: ignore[arg-type]


def serve_and(client_steps) -> None:
    """Run uvicorn with the recording protocol on a free port, then `client_steps(base_url)` in a thread."""

    async def main() -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(APP, http=RecordedProtocol, loop="none", log_level="warning", lifespan="off")
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.01)
        try:
            await asyncio.to_thread(client_steps, f"http://127.0.0.1:{sock.getsockname()[1]}")
        finally:
            server.should_exit = True
            await serving

    RECORDERS.clear()
    uvloop.run(main())


def test_head_and_body_leave_in_one_write() -> None:
    def steps(base_url: str) -> None:
        with httpx.Client(base_url=base_url) as client:
            for _ in range(3):  # keep-alive: every response on the connection, not just the first
                response = client.get("/small")
                assert response.status_code == 200
                assert response.json() == {"ok": True}

    serve_and(steps)
    [recorder] = RECORDERS
    assert len(recorder.calls) == 3
    for data in recorder.calls:
        assert data.startswith(b"HTTP/1.1 200 OK\r\n")
        assert data.endswith(b'\r\n\r\n{"ok":true}')


def test_large_body_arrives_whole_after_its_head() -> None:
    def steps(base_url: str) -> None:
        response = httpx.get(f"{base_url}/large")
        assert response.content == LARGE_BODY

    serve_and(steps)
    [recorder] = RECORDERS
    [data] = recorder.calls  # head held, then joined to the large body without a second syscall
    assert data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(LARGE_BODY)


def test_streamed_chunks_arrive_in_order() -> None:
    def steps(base_url: str) -> None:
        response = httpx.get(f"{base_url}/stream")
        assert response.content == b"".join(STREAM_CHUNKS)

    serve_and(steps)
    [recorder] = RECORDERS
    assert len(recorder.calls) <= len(STREAM_CHUNKS) // 2 + 2  # pairs joined


def test_head_is_not_held_back_for_a_late_body() -> None:
    HEAD_SEEN.clear()

    def steps(base_url: str) -> None:
        with httpx.stream("GET", f"{base_url}/slow", timeout=HEAD_WAIT_S * 2) as response:
            HEAD_SEEN.set()  # the head is here; only now does the server send the body
            assert response.read() == b"late"

    serve_and(steps)


def test_malformed_request_gets_its_400_before_the_close() -> None:
    def steps(base_url: str) -> None:
        port = int(base_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /small HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
            received = b""
            while chunk := sock.recv(4096):
                received += chunk
        assert received.startswith(b"HTTP/1.1 400 Bad Request\r\n")

    serve_and(steps)


class FakeTransport:
    def __init__(self) -> None:
        self.events: list[tuple[str, bytes]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.events.append(("write", data))

    def writelines(self, chunks) -> None:
        self.events.append(("writelines", b"".join(chunks)))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.events.append(("close", b""))
        self.closing = True

    def abort(self) -> None:
        self.events.append(("abort", b""))
        self.closing = True

    def get_write_buffer_size(self) -> int:
        return 0


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def run_one_step(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_until_complete(asyncio.sleep(0))


def holding(loop: asyncio.AbstractEventLoop, data: bytes) -> tuple[FakeTransport, WriteJoiningTransport]:
    """A joining transport over a fake one, with `data` written and held back."""
    fake = FakeTransport()
    transport = WriteJoiningTransport(fake, loop)  # type: ignore[arg-type]
    transport.write(data)
    return fake, transport


def test_a_lone_write_goes_out_at_the_end_of_the_step(loop) -> None:
    fake, transport = holding(loop, b"head")
    assert fake.events == [] and transport.get_write_buffer_size() == 4
    run_one_step(loop)
    assert fake.events == [("write", b"head")]


def test_close_sends_what_is_held_first(loop) -> None:
    fake, transport = holding(loop, b"bye")
    transport.close()
    run_one_step(loop)
    assert fake.events == [("write", b"bye"), ("close", b"")]


def test_abort_drops_what_is_held(loop) -> None:
    fake, transport = holding(loop, b"never")
    transport.abort()
    run_one_step(loop)
    assert fake.events == [("abort", b"")]


def test_nothing_is_written_to_a_transport_the_peer_closed(loop) -> None:
    fake, transport = holding(loop, b"head")
    fake.closing = True  # connection lost before the end of the step
    run_one_step(loop)
    assert fake.events == []
