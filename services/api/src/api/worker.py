"""The gunicorn worker: uvicorn on uvloop and httptools, told the public prefix that nginx strips.

It also sends each response's head and body in one write. uvicorn writes the status line and
headers, then the body, as two writes: two syscalls here and two TCP segments for nginx to read.
Joined, /brands served 5 % more requests per second directly and 6 % more through nginx (A/B on
one stack, bench/README.md). aiohttp joins them itself (aiohttp#10991).
"""

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker

from api.settings import Settings

# Only small writes are held back (a response head, a short body): a large body goes out at once,
# joined to whatever was held, without being copied.
HOLD_LIMIT = 16 * 1024


class WriteJoiningTransport:
    """Holds back one small write until the next write or the end of the event loop's current step.

    A response's head is written, then its body, in the same step (ASGI `send` does not wait in
    between unless the peer is slow), so both leave in one writev. Holding at most one small write,
    and never past the current step, keeps flow control and latency as uvicorn has them.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            self._transport.writelines((held, data))
        elif len(data) <= HOLD_LIMIT:
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            if not self._transport.is_closing():  # the peer is gone: nothing to deliver it to
                self._transport.write(held)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held or b"")

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:  # everything else is the real transport's
        return getattr(self._transport, name)


class WriteJoiningHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(WriteJoiningTransport(transport, self.loop))  # type: ignore[arg-type]


class Worker(UvicornWorker):
    CONFIG_KWARGS = {
        "loop": "uvloop",
        "http": WriteJoiningHttpToolsProtocol,
        # root_path makes the OpenAPI docs and the links we return point at /api/…, where clients see us.
        "root_path": Settings().root_path,
    }
