"""Visitors of the page: each holds a websocket on /counter for a while and reads the pushed counts.

websocket-client is a blocking client, which Locust's gevent monkey-patching makes cooperative; the
asyncio `websockets` library would block the whole worker. Every connection is reported as Locust request
events of type WS: its first count (latency from connect to that count) and each update after it.
"""

import random
import time
from urllib.parse import urlsplit, urlunsplit

import websocket
from locust import User, between, task

from loadtest import routes
from loadtest.routes import Group, Route
from loadtest.users import stop_unless_allowed

CONNECT_TIMEOUT_SECONDS = 5.0
HOLD_SECONDS = (5.0, 20.0)


def counter_url(host: str) -> str:
    """http://host:port → ws://host:port/counter (https → wss)."""
    parts = urlsplit(host)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/counter", "", ""))


def count_problem(message: str | bytes) -> str | None:
    """A count is a positive integer in a text frame (positive: this very connection is counted)."""
    if not isinstance(message, str) or not message.isdigit():
        return f"not a count: {message!r}"
    if int(message) < 1:
        return f"count {message} does not include this connection"
    return None


class CounterViewer(User):
    weight = 2
    wait_time = between(1, 5)
    groups = frozenset({Group.COUNTER})

    def on_start(self) -> None:
        stop_unless_allowed(self)

    def report(
        self, route: Route, started: float | None, message: str | bytes, error: Exception | None
    ) -> None:
        if error is None and (problem := count_problem(message)):
            error = ValueError(problem)
        self.environment.events.request.fire(
            request_type=route.method,
            name=route.name,
            # None keeps updates out of the latency percentiles: they answer no request.
            response_time=None if started is None else (time.perf_counter() - started) * 1000,
            response_length=len(message),
            exception=error,
            context={},
        )

    @task
    def watch_the_count(self) -> None:
        started = time.perf_counter()
        try:
            connection = websocket.create_connection(counter_url(self.host), timeout=CONNECT_TIMEOUT_SECONDS)
        except (websocket.WebSocketException, OSError) as error:
            self.report(routes.COUNTER_FIRST_COUNT, started, "", error)
            return
        try:
            try:
                first = connection.recv()
            except (websocket.WebSocketException, OSError) as error:
                self.report(routes.COUNTER_FIRST_COUNT, started, "", error)
                return
            self.report(routes.COUNTER_FIRST_COUNT, started, first, None)
            self.read_updates(connection, time.monotonic() + random.uniform(*HOLD_SECONDS))
        finally:
            connection.close(timeout=2)

    def read_updates(self, connection: websocket.WebSocket, until: float) -> None:
        while (remaining := until - time.monotonic()) > 0:
            connection.settimeout(remaining)
            try:
                message = connection.recv()
            except websocket.WebSocketTimeoutException:
                return  # held long enough; the visitor leaves
            except (websocket.WebSocketException, OSError) as error:
                self.report(routes.COUNTER_UPDATE, None, "", error)
                return
            if not connection.connected:  # a close frame: the server ended the visit early
                self.report(routes.COUNTER_UPDATE, None, "", ConnectionError("server closed the connection"))
                return
            self.report(routes.COUNTER_UPDATE, None, message, None)
