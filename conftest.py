"""Fixtures shared by every test folder.

The end-to-end tests talk to the stack only through nginx, at `base_url`. By default they start the
native stack (dev/stack.py) on free ports for this session; with STACK_URL set (make test-compose)
they run against that stack instead. Tests marked `native` also stop and start processes, which only
the native stack lets them do; test-compose deselects them (-m "not native").

Writes need the api's bearer token: the native stack makes its own; against compose it is the one in
.secrets/ (make secrets). `http` sends it, as a client that may write would; `anonymous` does not.
"""

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dev.stack import DEFAULT_PORTS, ROOT, WRITE_TOKENS, Stack, free_port
from tests.helpers import Faults


@pytest.fixture(scope="session")
def native_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack | None]:
    if os.environ.get("STACK_URL"):
        yield None
        return
    tls_dir = tmp_path_factory.mktemp("certs")  # a CA and a localhost certificate: HTTPS is tested too
    subprocess.run([str(ROOT / "scripts" / "make-certs.sh"), str(tls_dir)], check=True, capture_output=True)
    stack = Stack(
        tmp_path_factory.mktemp("stack"),
        ports={name: free_port() for name in DEFAULT_PORTS},
        workers=2,  # every multi-process path is exercised even on a one-core machine
        tls_dir=tls_dir,
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def stack(native_stack: Stack | None) -> Stack:
    """The native stack, for tests that need its processes or its database (marked `native`)."""
    if native_stack is None:
        pytest.fail("this test needs the native stack; run it without STACK_URL (it is marked native)")
    return native_stack


@pytest.fixture
def faults(stack: Stack) -> Iterator[Faults]:
    """Stop, start and signal the native stack's parts; the fixture restores them after the test."""
    done = Faults(stack)
    try:
        yield done
    finally:
        done.restore()


@pytest.fixture(scope="session")
def base_url(native_stack: Stack | None) -> str:
    return os.environ.get("STACK_URL") or native_stack.http_url


@pytest.fixture(scope="session")
def ws_url(base_url: str) -> str:
    return base_url.replace("http", "ws", 1) + "/counter"


@pytest.fixture(scope="session")
def write_tokens_file(native_stack: Stack | None) -> Path:
    if native_stack is not None:
        return native_stack.write_tokens_file
    return Path(os.environ.get("STACK_SECRETS_DIR", ROOT / ".secrets")) / WRITE_TOKENS


@pytest.fixture(scope="session")
def write_token(write_tokens_file: Path) -> str:
    return write_tokens_file.read_text().split()[0]


class WaitsOutRateLimits(httpx.HTTPTransport):
    """A polite client: on nginx's 429 it waits as long as Retry-After says and sends again.

    Against compose this machine is a limited client (only the load generator is exempt), and a
    test that walks every page sends more than the burst allows. Natively the tests come from the
    exempt 127.0.0.1 and it never comes to that. The limit tests use clients of their own that do
    not wait (tests/test_edge.py).
    """

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for _ in range(30):
            response = super().handle_request(request)
            if response.status_code != 429:
                return response
            response.close()
            time.sleep(float(response.headers.get("retry-after", "1")))
        return response


@pytest.fixture
def http(base_url: str, write_token: str) -> Iterator[httpx.Client]:
    """A client that may write (it sends the write token)."""
    headers = {"Authorization": f"Bearer {write_token}"}
    with httpx.Client(base_url=base_url, timeout=10, headers=headers, transport=WaitsOutRateLimits()) as client:
        yield client


@pytest.fixture
def anonymous(base_url: str) -> Iterator[httpx.Client]:
    """A client without credentials, as anyone on the internet."""
    with httpx.Client(base_url=base_url, timeout=10, transport=WaitsOutRateLimits()) as client:
        yield client


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The bad-input table's size, so a run says how many cases it refused (tests/test_bad_input.py)."""
    rows = [
        report
        for outcome in ("passed", "failed")
        for report in terminalreporter.stats.get(outcome, [])
        if getattr(report, "when", None) == "call" and "test_bad_input_is_refused" in report.nodeid
    ]
    if rows:
        refused = sum(report.passed for report in rows)
        terminalreporter.write_line(f"bad-input table: {refused} of {len(rows)} cases refused as specified")
