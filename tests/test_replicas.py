"""docker compose up --scale api=3 (or legacy): nginx follows the replicas by itself.

nginx's upstreams name the services with `resolve` (nginx/templates/nginx.conf.template), so new
replicas get requests and removed ones get none, without restarting nginx. Which replica served is
read from the replicas themselves: nginx opens a connection to a replica only to proxy a request,
so a replica holding an established connection on its port has been sent requests.
"""

import os
import subprocess
import threading
import time
from collections.abc import Callable

import httpx
import pytest

PORTS = {"api": 8000, "legacy": 8001}


def compose(*args: str) -> str:
    command = ["docker", "compose", "-p", os.environ["STACK_COMPOSE_PROJECT"], *args]
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=300).stdout


def established_connections(container: str, port: int) -> int:
    """TCP connections to `port` the container holds in state ESTABLISHED (/proc/net/tcp: local
    address as hex ip:port, then the remote's, then the state; 01 is ESTABLISHED)."""
    table = subprocess.run(
        ["docker", "exec", container, "cat", "/proc/net/tcp"], check=True, capture_output=True, text=True, timeout=30
    ).stdout
    rows = [line.split() for line in table.splitlines()[1:]]
    return sum(1 for row in rows if int(row[1].split(":")[1], 16) == port and row[3] == "01")


class Reads:
    """GETs in a loop from a few threads until stopped; counts every status and connection error."""

    def __init__(self, base_url: str, path: str, threads: int = 4) -> None:
        self.base_url, self.path = base_url, path
        self.ok = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            while not self._stop.is_set():
                try:
                    status = client.get(self.path).status_code
                    failure = None if status == 200 else f"status {status}"
                except httpx.HTTPError as error:
                    failure = f"{type(error).__name__}: {error}"
                with self._lock:
                    if failure:
                        self.failures.append(failure)
                    else:
                        self.ok += 1
                time.sleep(0.01)

    def __enter__(self) -> "Reads":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)


def nginx_start_time() -> str:
    (container,) = compose("ps", "-q", "nginx").split()
    inspect = ["docker", "inspect", "--format", "{{.State.StartedAt}}", container]
    return subprocess.run(inspect, check=True, capture_output=True, text=True, timeout=30).stdout


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


@pytest.mark.compose
@pytest.mark.parametrize("service", ["api", "legacy"])
def test_scaled_replicas_get_requests_without_restarting_nginx(base_url: str, service: str) -> None:
    port = PORTS[service]
    nginx_started = nginx_start_time()
    with Reads(base_url, f"/{service}/brands") as reads:
        try:
            compose("up", "-d", "--wait", "--no-recreate", "--scale", f"{service}=3", service)
            replicas = compose("ps", "-q", service).split()
            assert len(replicas) == 3
            # nginx holds its answer for the one replica up to 5 s (resolver valid=5s).
            wait_until(
                lambda: all(established_connections(replica, port) > 0 for replica in replicas),
                30,
                f"a new {service} replica got no request: "
                + str({replica[:12]: established_connections(replica, port) for replica in replicas}),
            )
        finally:
            compose("up", "-d", "--wait", "--no-recreate", "--scale", f"{service}=1", service)
        time.sleep(6)  # nginx's cached answer with the removed replicas expires, under load
    assert reads.ok > 100
    assert reads.failures == [], reads.failures[:10]
    assert nginx_start_time() == nginx_started, "nginx was restarted"
