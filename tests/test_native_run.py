"""`make dev` from a checkout only its user can read (a clone under /root is mode 0700): the page, a
proxied route and a body large enough for nginx to buffer on disk all work.

The copy holds what dev/stack.py reads from the checkout (the seed, the nginx template and page, the
Dockerfiles' commands); the services themselves run from this virtualenv, as they do in `make dev`.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from dev.stack import DEFAULT_PORTS, ROOT, free_port
from tests.helpers import wait_until

pytestmark = pytest.mark.native

COPIED = ("dev", "nginx", "postgres", "services")


def private_checkout(parent: Path) -> Path:
    """The parts of the checkout dev/stack.py reads, in a folder nobody but its owner may enter."""
    parent.chmod(0o700)
    checkout = parent / "checkout"
    for folder in COPIED:
        ignore = shutil.ignore_patterns(".venv", "__pycache__", "*.egg-info")
        shutil.copytree(ROOT / folder, checkout / folder, ignore=ignore)
    return checkout


def test_make_dev_serves_the_page_from_a_folder_only_its_user_can_read(tmp_path: Path) -> None:
    checkout = private_checkout(tmp_path)
    env_file = checkout / ".state" / "dev.env"
    ports = {name: free_port() for name in DEFAULT_PORTS}
    env = {**os.environ, "WORKERS": "1"}
    env |= {f"{name.upper()}_PORT": str(port) for name, port in ports.items()}
    log = tmp_path / "dev.log"
    with open(log, "wb") as output:
        command = [sys.executable, str(checkout / "dev" / "stack.py")]
        dev = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: env_file.exists() or dev.poll() is not None, 120, "make dev never came up")
        assert dev.poll() is None, log.read_text()[-3000:]
        settings = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
        token = Path(settings["WRITE_TOKENS_FILE"]).read_text().split()[0]
        writer = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{ports['http']}", timeout=10, headers=writer) as client:
            page = client.get("/")
            assert page.status_code == 200, page.text[:300]
            assert 'id="count"' in page.text
            assert client.get("/counter.js").status_code == 200
            # Over nginx's in-memory body buffer (16 KiB), so it goes through a temporary file of
            # nginx's own: written by its workers too.
            body = json.dumps({"product_name": "a buffered body", "brand_id": 1}) + " " * 40_000
            created = client.post("/api/products", content=body, headers={"content-type": "application/json"})
            assert created.status_code == 201, created.text[:300]
            assert client.get(f"/api/products/{created.json()['product_id']}").status_code == 200
    finally:
        dev.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            dev.wait(60)
        except subprocess.TimeoutExpired:
            dev.kill()
            dev.wait()
    assert dev.returncode == 0, log.read_text()[-3000:]
    assert not env_file.exists()  # it cleans up after itself


def test_free_ports_are_below_the_ephemeral_range() -> None:
    """A port the kernel may give an outgoing connection (wrk's, nginx's keepalive to its upstreams)
    can be taken between free_port() and the server's bind: the benchmark once lost a target so."""
    first_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = {free_port() for _ in range(50)}
    assert all(1024 < port < first_ephemeral for port in ports), sorted(ports)
    assert len(ports) > 40  # spread out, so two stacks picking at once rarely meet
