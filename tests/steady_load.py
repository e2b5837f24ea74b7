"""Steady reads through nginx while something changes behind it (replicas come and go, a node is
lost), and which replicas nginx sends requests to: the compose and swarm tests share them."""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

READS = ["/api/brands", "/api/products/1", "/api/products?limit=5", "/legacy/brands", "/legacy/products/1"]


def established_connections(proc_net_tcp: str, port: int) -> int:
    """TCP connections to `port` in a /proc/net/tcp table that are ESTABLISHED (state 01; columns:
    local address as hex ip:port, remote address, state). nginx opens a connection to a replica
    only to send it a request, so a replica holding one has been sent requests."""
    rows = [line.split() for line in proc_net_tcp.splitlines()[1:]]
    return sum(1 for row in rows if int(row[1].split(":")[1], 16) == port and row[3] == "01")


@dataclass
class Outcome:
    at: float
    path: str
    error: str | None  # None: a 2xx


@dataclass
class Load:
    """GETs in a loop from a few threads, round robin over `urls` and READS, until stopped. Every
    answer is kept with its time: a non-2xx status or a connection error is a failure. `body_check`
    may refuse a 200 (say, an answer from a replica that should not serve)."""

    urls: list[str]
    paths: list[str] = field(default_factory=lambda: list(READS))
    threads: int = 6
    # Between one thread's requests: 6 threads stay under nginx's 50 requests/s per client, which
    # binds this machine's address too.
    pause: float = 0.15
    body_check: Callable[[httpx.Response], str | None] = lambda response: None
    outcomes: list[Outcome] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(self.threads)]

    def _run(self, seed: int) -> None:
        # Longer than nginx's upstream timeouts: a request nginx retries on another replica after
        # a dead one timed out is slow, not failed.
        clients = [httpx.Client(base_url=url, timeout=40) for url in self.urls]
        i = seed
        while not self._stop.is_set():
            client, path = clients[i % len(clients)], self.paths[i % len(self.paths)]
            i += 1
            try:
                response = client.get(path)
                # A failure keeps the start of its body: nginx's JSON and a service's say who failed.
                error = f"{response.status_code} {response.text[:100]}" if not response.is_success else self.body_check(response)
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            with self._lock:
                self.outcomes.append(Outcome(time.monotonic(), f"{client.base_url}{path}", error))
            time.sleep(self.pause)
        for client in clients:
            client.close()

    def __enter__(self) -> "Load":
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(60)

    def failures(self, since: float = 0, until: float = float("inf")) -> list[Outcome]:
        return [o for o in self.outcomes if o.error and since <= o.at < until]

    def count(self, since: float = 0, until: float = float("inf")) -> int:
        return sum(1 for o in self.outcomes if since <= o.at < until)
