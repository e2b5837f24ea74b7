"""One worker process: the websocket server, its clients, and their share of the count."""

import asyncio
import json
import logging
import signal
import time
from http import HTTPStatus
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State

from stack_common.metrics_flush import FLUSHER
from stack_common.request_ids import request_id_from

from counter.metrics import WorkerMetrics
from counter.presence import Presence
from counter.settings import Settings

log = logging.getLogger(__name__)
# Fan-out: a burst of changes sends the latest count once. After a broadcast the next one waits at
# least this long, and at least BROADCAST_COST_FACTOR times as long as that one took (one write
# syscall per socket: 20-50 us each), so broadcasting takes at most a third of a worker's time even
# in a reconnect storm, and accepts, handshakes and pings keep going. A broadcast that carried a
# single change (no burst behind it) is followed by a pause of only its own duration: at 20,000
# sockets the full pause was the largest part of a lone change's latency (bench/README.md).
BROADCAST_INTERVAL_SECONDS = 0.02
BROADCAST_COST_FACTOR = 2.0
LONE_CHANGE_COST_FACTOR = 1.0
# Pending connects the kernel queues per process (capped by net.core.somaxconn): a reconnect storm
# after a restart brings thousands at once.
BACKLOG = 4096
# How long a closing handshake may take before the socket is dropped.
CLOSE_TIMEOUT_SECONDS = 2.0


class Counter:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clients: set[ServerConnection] = set()
        self.metrics = WorkerMetrics() if settings.metrics_on else None
        self.presence = Presence(settings, on_change=self.schedule_broadcast, metrics=self.metrics)
        # Clients that have not been sent any count yet: they get the next one even if it did not change.
        self._newcomers: set[ServerConnection] = set()
        self._last_sent: int | None = None
        self._next_flush = 0.0
        self._flush_handle: asyncio.Handle | None = None
        self._changed_at = 0.0  # loop time of the first change the next broadcast carries
        self._changes = 0  # changes the next broadcast carries

    def schedule_broadcast(self) -> None:
        """Send the current count soon: a lone change on the next loop iteration, a burst of a
        thousand connects as a few broadcasts of the latest count rather than a thousand broadcasts
        to a thousand sockets each (see BROADCAST_COST_FACTOR).
        """
        self._changes += 1
        if self._flush_handle is not None:
            return
        loop = asyncio.get_running_loop()
        self._changed_at = loop.time()
        wait = self._next_flush - self._changed_at
        if wait > 0:
            self._flush_handle = loop.call_later(wait, self._flush)
        else:
            self._flush_handle = loop.call_soon(self._flush)

    def _flush(self, put_off: bool = False) -> None:
        loop = asyncio.get_running_loop()
        if self.presence.publish_pending and not put_off:
            # Our own change: its presence write goes out first (one loop iteration), then this
            # process's fan-out, so the other processes fan out alongside us, not after us.
            self._flush_handle = loop.call_soon(self._flush, True)
            return
        self._flush_handle = None
        delay = loop.time() - self._changed_at
        started = time.monotonic()
        total = self.presence.total
        if total != self._last_sent:
            send_to_all(self.clients, str(total))
            self._last_sent = total
        else:
            send_to_all(self._newcomers, str(total))
        self._newcomers.clear()
        cost = time.monotonic() - started
        if self.metrics is not None:
            self.metrics.broadcast(cost, delay, total)
        factor = BROADCAST_COST_FACTOR if self._changes > 1 else LONE_CHANGE_COST_FACTOR
        self._changes = 0
        pause = max(BROADCAST_INTERVAL_SECONDS, factor * cost)
        self._next_flush = loop.time() + pause

    async def handle(self, websocket: ServerConnection) -> None:
        self.clients.add(websocket)
        self._newcomers.add(websocket)
        self._sockets_changed()
        try:
            await self._ignore_messages(websocket)
        except ConnectionClosed:
            pass
        finally:
            self.clients.discard(websocket)
            self._newcomers.discard(websocket)
            self._sockets_changed()

    def _sockets_changed(self) -> None:
        self.presence.set_local(len(self.clients))
        self.schedule_broadcast()
        if self.metrics is not None:
            self.metrics.sockets_changed(len(self.clients))

    async def _ignore_messages(self, websocket: ServerConnection) -> None:
        """Clients may talk; we read and drop it, closing floods (oversized frames: max_size, 1009)."""
        window_start, in_window = time.monotonic(), 0
        async for _ in websocket:
            now = time.monotonic()
            if now - window_start >= 1.0:
                window_start, in_window = now, 0
            in_window += 1
            if in_window > self.settings.max_messages_per_second:
                await websocket.close(CloseCode.POLICY_VIOLATION, "too many messages")
                return


def send_to_all(connections: set[ServerConnection], message: str) -> None:
    """What websockets' broadcast() does, with the frame built once rather than once per socket.

    Each socket gets the same bytes, written without awaiting: a slow or dead client never holds up
    the others (its frames wait in its own buffer until the ping timeout closes it). broadcast() has
    every connection's protocol build and serialise its own copy of the frame: about a quarter of
    this loop's own CPU (bench/README.md). Writing the frame to the transport is what the
    protocol would do itself: a server's frames are unmasked, a lone text frame carries no protocol
    state, and no extension is negotiated (compression=None; an uncompressed frame would be valid
    under permessage-deflate anyway). Sockets not open (closing) are skipped, as broadcast() does.
    """
    frame = Frame(Opcode.TEXT, message.encode()).serialize(mask=False, extensions=[])
    for connection in connections:
        if connection.protocol.state is State.OPEN:
            try:
                connection.transport.write(frame)
            except Exception as exc:  # a transport torn down under us: that socket only
                log.warning("skipped a count for one socket: %s", exc)


class Handshake:
    """The HTTP side of the opening handshake: the healthcheck, the Origin check, the request id."""

    def __init__(self, settings: Settings) -> None:
        self.allowed_origins = settings.allowed_origin_set()

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Plain HTTP for the healthcheck; every other path is the websocket, from allowed origins."""
        if request.path == "/healthz":
            return connection.respond(HTTPStatus.OK, "ok\n")
        origin = request.headers.get("Origin")
        if origin is not None and not self.origin_allowed(origin, request.headers.get("Host")):
            shown = origin[:100]
            log.warning(
                "refused a websocket from origin %r", shown,
                extra={"request_id": request_id_from(request.headers.get("X-Request-ID"))},
            )  # fmt: skip
            body = {"error": "forbidden", "detail": f"origin {shown!r} may not open this websocket"}
            response = connection.respond(HTTPStatus.FORBIDDEN, json.dumps(body))
            response.headers["Content-Type"] = "application/json"
            return response
        return None

    def origin_allowed(self, origin: str, host: str | None) -> bool:
        if origin.lower().rstrip("/") in self.allowed_origins:
            return True
        # The site's own page: the Origin's host is the host the browser sent this request to. The
        # ports are not compared: nginx forwards Host without one, and behind a TLS load balancer
        # the public port is not ours to know. ("null", from sandboxed frames and files, has no host.)
        try:
            parts, own = urlsplit(origin), urlsplit(f"//{host or ''}")
        except ValueError:  # a malformed IPv6 literal
            return False
        same_host = parts.hostname is not None and parts.hostname == own.hostname
        return same_host and parts.scheme in ("http", "https")

    def process_response(self, connection: ServerConnection, request: Request, response: Response) -> None:
        """Every answer, the upgrade included, carries the request's X-Request-ID back."""
        request_id = request_id_from(request.headers.get("X-Request-ID"))
        if request_id is not None:
            response.headers["X-Request-ID"] = request_id


async def run_worker(settings: Settings) -> None:
    counter = Counter(settings)
    handshake = Handshake(settings)
    await counter.presence.start()
    server: Server = await serve(
        counter.handle,
        settings.host,
        settings.port,
        process_request=handshake.process_request,
        process_response=handshake.process_response,
        reuse_port=True,  # every worker process binds the same port; the kernel spreads connects
        backlog=BACKLOG,
        max_size=settings.max_message_bytes,
        # The same few bytes go to thousands of sockets: compressing them per socket would cost
        # CPU and a zlib context per connection for nothing.
        compression=None,
        ping_interval=settings.ping_interval_seconds,
        ping_timeout=settings.ping_interval_seconds,
        close_timeout=CLOSE_TIMEOUT_SECONDS,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    # Graceful: every client gets a close frame (1001 going away) and reconnects elsewhere; then our
    # presence row goes, so the others stop counting us at once rather than when it goes stale.
    try:
        server.close()
        await server.wait_closed()
        await counter.presence.stop()
    finally:
        # The last numbers (the closed sockets included) go to the files now: a forked worker ends
        # with os._exit (multiprocessing), which runs no atexit handler.
        if counter.metrics is not None:
            FLUSHER.flush()
