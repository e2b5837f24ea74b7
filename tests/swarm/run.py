"""make test-swarm: the stack on a three-node Docker Swarm, tested end to end, then removed.

    python -m tests.swarm.run --prefix async-web-stack-test --subnet 10.230.70.0/24 [pytest args]

1. starts the swarm and its registry (tests/swarm/cluster.py);
2. `make stack-deploy` into it (the images from compose's Dockerfiles, deploy/swarm/stack.yaml,
   loadtest.yaml and observability.yaml with Prometheus's images), as a user would against a real
   cluster;
3. waits until every service has all its tasks running and each node's nginx answers every route;
4. runs the end-to-end suite against nginx on the first node (as make test-compose does against
   compose; the tests that stop native processes or drive compose are left out), then the swarm
   tests (tests/swarm/test_swarm.py) with the cluster's addresses in the environment;
5. removes everything it started, whatever happened (--keep leaves it up to look around).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from tests.swarm.cluster import Cluster, run

TAG = "v1"
HTTP_PORT = 8080
SERVICES = ("postgres", "api", "legacy", "counter", "nginx", "locust-master", "locust-worker",
            "prometheus", "nginx-exporter", "postgres-exporter")
READY_PATHS = ("/api/readyz", "/legacy/readyz", "/counter/healthz", "/")
# Suite tests that need compose, left to make test-compose:
NEEDS_COMPOSE = (
    # They look inside the services' containers through docker compose (logs, a probe run there).
    "tests/test_roles.py",
    "tests/test_request_ids.py",
    # Two limited clients of one nginx, the second through compose's load network: natively and in
    # compose only (the swarm's nginx runs the same template; each node's nginx counts on its own).
    "tests/test_edge.py::test_a_client_over_the_request_rate_gets_json_429s_and_no_more_than_its_allowance",
    "tests/test_edge.py::test_writes_have_a_stricter_rate_than_reads",
    "tests/test_edge.py::test_a_client_over_64_connections_gets_a_json_429",
    "tests/test_edge.py::test_a_client_that_does_not_read_is_cut_off_without_holding_up_others",
    # HTTPS is compose.tls.yaml's; the stack file does not carry it yet (README "Beyond one machine").
    "tests/test_edge.py::test_https_serves_every_route_with_http2_and_hsts",
    "tests/test_edge.py::test_https_is_refused_by_a_client_that_does_not_trust_the_ca",
    "tests/test_edge.py::test_the_counter_works_over_wss",
)


def wait_converged(cluster: Cluster, stack: str, timeout: float = 420) -> None:
    """Until every service runs as many tasks as it wants (global ones: one per node)."""
    deadline = time.monotonic() + timeout
    while True:
        out = cluster.on(0, "service", "ls", "--filter", f"label=com.docker.stack.namespace={stack}",
                         "--format", "{{.Name}} {{.Replicas}}")
        pending = [line for line in out.splitlines() if (lambda r: r[0] != r[1])(line.split()[1].split("/"))]
        if out.strip() and not pending:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the stack did not converge in {timeout:.0f} s:\n{out}")
        time.sleep(3)


def wait_ready(urls: list[str], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    for url in urls:
        while True:
            try:
                with urllib.request.urlopen(url, timeout=3) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} not ready after {timeout:.0f} s")
            time.sleep(0.5)


def show_state(cluster: Cluster, stack: str) -> None:
    """What a failed run needs to be understood: the tasks, and the recent logs of each service."""
    print(cluster.on(0, "stack", "ps", "--no-trunc", stack, check=False), file=sys.stderr)
    for service in SERVICES:
        logs = cluster.on(0, "service", "logs", "--tail", "30", f"{stack}_{service}", check=False, timeout=60)
        print(f"--- {service}\n{logs}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prefix", required=True, help="names of every container, volume and network started")
    parser.add_argument("--subnet", required=True, type=ipaddress.ip_network, help="a free /24 (or larger)")
    parser.add_argument("--http-port", required=True, type=int, help="the first node's nginx on 127.0.0.1")
    parser.add_argument("--keep", action="store_true", help="leave the swarm up afterwards")
    args, pytest_args = parser.parse_known_args()  # the rest is for pytest (make's PYTEST_ARGS)

    cluster = Cluster(args.prefix, args.subnet, args.http_port, HTTP_PORT)
    # Named after the prefix: make stack-deploy builds the images as compose project STACK_NAME
    # (<name>-api, …) on this host before it pushes them, so two runs on one host must not share it.
    stack = f"{args.prefix}-stack"
    # A stopped run (Ctrl-C, SIGTERM from CI) still removes what it started, in `finally` below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    python = sys.executable
    cluster.remove()  # a previous run's leftovers, if it was killed before cleaning up
    status = 1
    try:
        started = time.monotonic()
        cluster.start()
        port = cluster.registry_port()
        # The nodes' Docker Hub mirror: the stack names postgres:15 as compose does.
        if run("docker", "image", "inspect", "postgres:15", check=False).strip() in ("", "[]"):
            run("docker", "pull", "-q", "postgres:15")
        run("docker", "tag", "postgres:15", f"127.0.0.1:{port}/library/postgres:15")
        run("docker", "push", "-q", f"127.0.0.1:{port}/library/postgres:15")
        load = cluster.load_subnet
        deploy_env = {
            **os.environ,
            "LOAD_SUBNET": str(load),  # the Locust network, whose clients nginx does not limit
            "HTTP_PORT": str(HTTP_PORT),
        }
        subprocess.run(
            ["make", "--no-print-directory", "stack-deploy", f"REGISTRY={cluster.registry}:5000",
             f"PUSH_REGISTRY=127.0.0.1:{port}", f"SWARM_HOST={cluster.manager}", f"STACK_NAME={stack}",
             f"TAG={TAG}", "LOADTEST=1", "OBSERVABILITY=1"],
            env=deploy_env, check=True, stdout=sys.stderr,
        )
        wait_converged(cluster, stack)
        node_urls = [f"http://{ip}:{HTTP_PORT}" for ip in cluster.node_ips]
        wait_ready([url + path for url in [*node_urls, f"http://127.0.0.1:{args.http_port}"] for path in READY_PATHS])
        print(f"swarm up and stack deployed in {time.monotonic() - started:.0f} s", flush=True)

        test_env = {
            **os.environ,
            "STACK_URL": f"http://127.0.0.1:{args.http_port}",
            "SWARM_PREFIX": args.prefix,
            "SWARM_SUBNET": str(args.subnet),
            "SWARM_STACK": stack,
            "SWARM_REGISTRY": f"{cluster.registry}:5000",
            "SWARM_PUSH_REGISTRY": f"127.0.0.1:{port}",
            "SWARM_TAG": TAG,
        }
        suite = [python, "-m", "pytest", "-m", "not native and not compose and not swarm",
                 *(f"--deselect={path}" for path in NEEDS_COMPOSE), *pytest_args]
        swarm = [python, "-m", "pytest", "-m", "swarm", "-s", "tests/swarm", *pytest_args]
        status = subprocess.run(suite, env=test_env).returncode
        swarm_status = subprocess.run(swarm, env=test_env).returncode
        status = status or swarm_status
        if status:
            show_state(cluster, stack)
        return status
    except BaseException:
        if cluster.node_names:
            show_state(cluster, stack)
        raise
    finally:
        if args.keep:
            print(f"left up: docker -H {cluster.manager} stack ps {stack}", file=sys.stderr)
        else:
            cluster.remove()


if __name__ == "__main__":
    sys.exit(main())
