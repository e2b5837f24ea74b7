"""One worker process: the websocket server, its clients, and their share of the count."""

import asyncio
import logging
import signal
import time
from http import HTTPStatus

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Request, Response

from counter.presence import Presence
from counter.settings import Settings

log = logging.getLogger(__name__)


class Counter:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clients: set[ServerConnection] = set()
        self.presence = Presence(settings, on_change=self._broadcast)

    def _broadcast(self, total: int) -> None:
        # broadcast() writes to every socket without awaiting any of them: a slow or dead client
        # never holds up the others (its frames queue in its own buffer until pings close it).
        broadcast(self.clients, str(total))

    async def handle(self, websocket: ServerConnection) -> None:
        self.clients.add(websocket)
        try:
            self.presence.set_local(len(self.clients))
            await websocket.send(str(self.presence.total))
            await self._ignore_messages(websocket)
        except ConnectionClosed:
            pass
        finally:
            self.clients.discard(websocket)
            self.presence.set_local(len(self.clients))

    async def _ignore_messages(self, websocket: ServerConnection) -> None:
        """Clients may talk; we read and drop it, closing floods (oversized frames: max_size)."""
        window_start, in_window = time.monotonic(), 0
        async for _ in websocket:
            now = time.monotonic()
            if now - window_start >= 1.0:
                window_start, in_window = now, 0
            in_window += 1
            if in_window > self.settings.max_messages_per_second:
                await websocket.close(CloseCode.POLICY_VIOLATION, "too many messages")
                return


def health(connection: ServerConnection, request: Request) -> Response | None:
    """Plain HTTP for the healthcheck; every other path is the websocket."""
    if request.path == "/healthz":
        return connection.respond(HTTPStatus.OK, "ok\n")
    return None


async def run_worker(settings: Settings) -> None:
    counter = Counter(settings)
    await counter.presence.start()
    server: Server = await serve(
        counter.handle,
        settings.host,
        settings.port,
        process_request=health,
        reuse_port=True,  # every worker process binds the same port; the kernel spreads connects
        max_size=settings.max_message_bytes,
        ping_interval=settings.ping_interval_seconds,
        ping_timeout=settings.ping_interval_seconds,
        close_timeout=2,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    # Graceful: every client gets a close frame (1001 going away) and reconnects elsewhere.
    server.close()
    await server.wait_closed()
    await counter.presence.stop()
