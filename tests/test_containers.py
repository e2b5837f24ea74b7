"""Every container of the running compose stack, as Docker runs it (docker inspect): no capability
beyond what it proves it needs, no privilege gained through setuid binaries, bounded processes,
memory and CPU, rotated logs, a read-only root filesystem and a non-root user."""

import json
import os
import subprocess

import pytest

pytestmark = pytest.mark.compose

# What a container may add back after dropping every capability: PostgreSQL's entrypoint owns its
# data folder as root, then becomes the postgres user.
CAPABILITIES = {"postgres": {"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID"}}
# Every service of compose.yaml that runs in make test-compose (the loadtest profile is on).
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
    assert set(found) == SERVICES
    return found


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_capability_is_dropped_but_what_it_needs(containers: dict[str, dict], service: str) -> None:
    host = containers[service]["HostConfig"]
    assert [cap.removeprefix("CAP_") for cap in host["CapDrop"]] == ["ALL"]
    assert {cap.removeprefix("CAP_") for cap in host["CapAdd"] or []} == CAPABILITIES.get(service, set())
    assert not host["Privileged"]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_no_new_privileges(containers: dict[str, dict], service: str) -> None:
    assert "no-new-privileges:true" in containers[service]["HostConfig"]["SecurityOpt"]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_processes_memory_and_cpu_are_bounded(containers: dict[str, dict], service: str) -> None:
    host = containers[service]["HostConfig"]
    assert 0 < host["PidsLimit"] <= 1024
    assert 0 < host["Memory"] <= 2 * 1024**3
    assert host["NanoCpus"] > 0


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_logs_are_rotated(containers: dict[str, dict], service: str) -> None:
    log = containers[service]["HostConfig"]["LogConfig"]
    assert log["Type"] == "json-file"
    assert log["Config"]["max-size"] and int(log["Config"]["max-file"]) >= 1


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_the_root_filesystem_is_read_only(containers: dict[str, dict], service: str) -> None:
    assert containers[service]["HostConfig"]["ReadonlyRootfs"] is True


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_the_service_runs_as_a_non_root_user(containers: dict[str, dict], service: str) -> None:
    """The image's user; PostgreSQL's entrypoint starts as root and runs the server as postgres."""
    container = containers[service]
    if service == "postgres":
        top = [line.split(None, 2) for line in docker("top", container["Id"], "-o", "pid,uid,args").splitlines()[1:]]
        servers = [uid for _, uid, command in top if command.startswith("postgres")]
        assert servers and "0" not in servers, top
        return
    user = container["Config"]["User"].split(":")[0]
    assert user and user not in {"root", "0"}
    assert docker("exec", container["Id"], "id", "-u").strip() != "0"


def test_only_nginx_is_published_beyond_this_machine(containers: dict[str, dict]) -> None:
    """The Locust web UI starts load from addresses nginx does not limit: loopback only by default."""
    for service, container in containers.items():
        for bindings in (container["HostConfig"]["PortBindings"] or {}).values():
            for binding in bindings:
                if service != "nginx":
                    assert binding["HostIp"] == "127.0.0.1", (service, binding)
    assert containers["locust-master"]["HostConfig"]["PortBindings"]
