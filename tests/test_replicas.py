"""docker compose up --scale api=3 (or legacy): nginx follows the replicas by itself.

nginx's upstreams name the services with `resolve` (nginx/templates/nginx.conf.template), so new
replicas get requests and removed ones get none, without restarting nginx. Which replica served is
read from the replicas themselves: nginx opens a connection to a replica only to proxy a request,
so a replica holding an established connection on its port has been sent requests.
"""

import os
import subprocess
import time
from collections.abc import Callable

import pytest

from tests.steady_load import Load, established_connections

PORTS = {"api": 8000, "legacy": 8001}


def compose(*args: str) -> str:
    command = ["docker", "compose", "-p", os.environ["STACK_COMPOSE_PROJECT"], *args]
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=300).stdout


def established(container: str, port: int) -> int:
    command = ["docker", "exec", container, "cat", "/proc/net/tcp"]
    return established_connections(subprocess.run(command, check=True, capture_output=True, text=True, timeout=30).stdout, port)


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
    with Load([base_url], paths=[f"/{service}/brands"], threads=4) as load:
        try:
            compose("up", "-d", "--wait", "--no-recreate", "--scale", f"{service}=3", service)
            replicas = compose("ps", "-q", service).split()
            assert len(replicas) == 3
            # nginx holds its answer for the one replica up to 5 s (resolver valid=5s).
            wait_until(
                lambda: all(established(replica, port) > 0 for replica in replicas),
                30,
                f"a new {service} replica got no request: "
                + str({replica[:12]: established(replica, port) for replica in replicas}),
            )
        finally:
            compose("up", "-d", "--wait", "--no-recreate", "--scale", f"{service}=1", service)
        time.sleep(6)  # nginx's cached answer with the removed replicas expires, under load
    assert load.count() > 100
    assert load.failures() == [], load.failures()[:10]
    assert nginx_start_time() == nginx_started, "nginx was restarted"
