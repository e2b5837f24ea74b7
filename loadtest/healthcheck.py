"""Container healthchecks: `python -m loadtest.healthcheck master|worker`.

master: the web UI answers. worker: it holds an established TCP connection to the master's port,
i.e. it is connected and can receive work (a worker has no port of its own to probe).
"""

import os
import sys
import urllib.request
from pathlib import Path

ESTABLISHED = "01"


def master_is_healthy() -> bool:
    port = os.environ.get("LOCUST_WEB_PORT", "8089")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
        return response.status == 200


def worker_is_connected() -> bool:
    master_port = int(os.environ.get("LOCUST_MASTER_NODE_PORT", "5557"))
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == master_port and fields[3] == ESTABLISHED:
                return True
    return False


if __name__ == "__main__":
    role = sys.argv[1] if len(sys.argv) > 1 else ""
    checks = {"master": master_is_healthy, "worker": worker_is_connected}
    if role not in checks:
        sys.exit("usage: python -m loadtest.healthcheck master|worker")
    sys.exit(0 if checks[role]() else 1)
