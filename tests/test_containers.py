"""Every container of the running compose stack, as Docker runs it (docker inspect): no capability
beyond what it proves it needs, no privilege gained through setuid binaries, bounded processes,
memory and CPU, rotated logs, a read-only root filesystem and a non-root user. Every container the
stack runs, so a service added to compose.yaml meets the same bar (x-hardening there)."""

import json
import os
import subprocess
from collections.abc import Callable

import pytest

pytestmark = pytest.mark.compose

# What a container may add back after dropping every capability: PostgreSQL's entrypoint owns its
# data folder as root, then becomes the postgres user.
CAPABILITIES = {"postgres": {"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID"}}
# At least these run in make test-compose (the loadtest profile is on).
SERVICES = {"postgres", "api", "legacy", "counter", "nginx", "locust-master", "locust-worker"}


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True, timeout=60).stdout


@pytest.fixture(scope="module")
def containers() -> dict[str, dict]:
    """Each running container of the stack by its service name (one of each)."""
    project = os.environ["STACK_COMPOSE_PROJECT"]
    ids = docker("ps", "-q", "--filter", f"label=com.docker.compose.project={project}").split()
    found: dict[str, dict] = {}
    for container in json.loads(docker("inspect", *ids)):
        found.setdefault(container["Config"]["Labels"]["com.docker.compose.service"], container)
    assert SERVICES <= set(found)
    return found


def offenders(containers: dict[str, dict], check: Callable[[str, dict], bool]) -> list[str]:
    return sorted(service for service, container in containers.items() if not check(service, container))


def caps(names: list[str] | None) -> set[str]:
    return {name.removeprefix("CAP_") for name in names or []}


def test_every_capability_is_dropped_but_what_it_needs(containers: dict[str, dict]) -> None:
    def minimal(service: str, container: dict) -> bool:
        host = container["HostConfig"]
        dropped_all = caps(host["CapDrop"]) == {"ALL"}
        return dropped_all and caps(host["CapAdd"]) == CAPABILITIES.get(service, set()) and not host["Privileged"]

    assert offenders(containers, minimal) == []


def test_no_new_privileges(containers: dict[str, dict]) -> None:
    def set_(_: str, container: dict) -> bool:
        return "no-new-privileges:true" in (container["HostConfig"]["SecurityOpt"] or [])

    assert offenders(containers, set_) == []


def test_processes_memory_and_cpu_are_bounded(containers: dict[str, dict]) -> None:
    def bounded(_: str, container: dict) -> bool:
        host = container["HostConfig"]
        return 0 < (host["PidsLimit"] or 0) <= 1024 and 0 < host["Memory"] <= 2 * 1024**3 and host["NanoCpus"] > 0

    assert offenders(containers, bounded) == []


def test_logs_are_rotated(containers: dict[str, dict]) -> None:
    def rotated(_: str, container: dict) -> bool:
        log = container["HostConfig"]["LogConfig"]
        options = log["Config"] or {}
        return log["Type"] == "json-file" and bool(options.get("max-size")) and int(options.get("max-file", 0)) >= 1

    assert offenders(containers, rotated) == []


def test_the_root_filesystem_is_read_only(containers: dict[str, dict]) -> None:
    assert offenders(containers, lambda _, container: container["HostConfig"]["ReadonlyRootfs"] is True) == []


def test_every_process_but_postgres_entrypoint_runs_as_a_non_root_user(containers: dict[str, dict]) -> None:
    """The image's user; PostgreSQL's entrypoint (runuser) stays root and runs the server as postgres."""

    def non_root(service: str, container: dict) -> bool:
        top = docker("top", container["Id"], "-o", "pid,uid,args").splitlines()[1:]
        processes = [line.split(None, 2) for line in top]
        if service == "postgres":
            processes = [(pid, uid, command) for pid, uid, command in processes if command.startswith("postgres")]
        return bool(processes) and all(uid != "0" for _, uid, _ in processes)

    assert offenders(containers, non_root) == []


def test_only_nginx_is_published_beyond_this_machine(containers: dict[str, dict]) -> None:
    """The Locust web UI starts load from addresses nginx does not limit: loopback only by default."""

    def loopback_only(service: str, container: dict) -> bool:
        bindings = [b for bs in (container["HostConfig"]["PortBindings"] or {}).values() for b in bs]
        return service == "nginx" or all(binding["HostIp"] == "127.0.0.1" for binding in bindings)

    assert offenders(containers, loopback_only) == []
    assert containers["locust-master"]["HostConfig"]["PortBindings"]
