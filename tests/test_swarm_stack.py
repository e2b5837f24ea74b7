"""The swarm stack (deploy/swarm/) checked without a swarm: it says what compose.yaml says, service by
service, and differs only where a swarm needs it to. A setting added to compose and not to the
stack fails here, not on someone's cluster. make test-swarm deploys and tests it for real."""

import os
import subprocess

import pytest
import yaml

from tests.test_static import COMPOSE, interpolate
from dev.stack import ROOT

SWARM = ROOT / "deploy" / "swarm"
STACK = yaml.safe_load(interpolate((SWARM / "stack.yaml").read_text()))
LOADTEST = yaml.safe_load(interpolate((SWARM / "loadtest.yaml").read_text()))
SERVICES = {**STACK["services"], **LOADTEST["services"]}
# Prometheus and its exporters (compose's observability profile) are not on the swarm yet: their
# images would have to reach the nodes' registry and nginx-exporter would need one task per nginx.
# README "Beyond one machine" says so. The services' own metrics ports are in the stack.
NOT_ON_THE_SWARM = {name for name, service in COMPOSE["services"].items() if "observability" in service.get("profiles", [])}
ON_THE_SWARM = sorted(set(COMPOSE["services"]) - NOT_ON_THE_SWARM)
APP = ["api", "legacy", "counter"]
# Environment values that differ on purpose (the reasons are beside them in stack.yaml).
SWARM_VALUES = {
    ("api", "DB_POOL_MAX"),
    ("legacy", "DB_POOL_MAX"),
    ("counter", "PING_INTERVAL_SECONDS"),
    *((name, "DRAIN_SECONDS") for name in APP),
    ("nginx", "LIMIT_EXEMPT_CIDR"),
}


def test_the_stack_has_every_compose_service() -> None:
    assert NOT_ON_THE_SWARM == {"prometheus", "nginx-exporter", "postgres-exporter"}
    assert set(SERVICES) == set(ON_THE_SWARM)


@pytest.mark.parametrize("name", ON_THE_SWARM)
def test_each_service_is_configured_as_in_compose(name: str) -> None:
    compose, swarm = COMPOSE["services"][name], SERVICES[name]
    compose_env = {key: str(value) for key, value in compose.get("environment", {}).items()}
    swarm_env = {key: str(value) for key, value in swarm.get("environment", {}).items()}
    assert set(swarm_env) == set(compose_env)
    differing = {key for key in compose_env if compose_env[key] != swarm_env[key]}
    assert {(name, key) for key in differing} <= SWARM_VALUES, differing
    for key in ("secrets", "networks", "ulimits", "read_only", "cap_drop", "cap_add", "logging"):
        assert swarm.get(key) == compose.get(key), key
    assert swarm["healthcheck"]["test"] == compose["healthcheck"]["test"]
    if name in APP:
        # On SIGTERM a task serves DRAIN_SECONDS more, then stops as it does in compose: Docker's
        # SIGKILL must wait for both.
        drain = float(swarm_env["DRAIN_SECONDS"])
        assert drain > 0 and seconds(swarm["stop_grace_period"]) >= drain + seconds(compose["stop_grace_period"])
    elif "stop_grace_period" in compose:
        assert swarm["stop_grace_period"] == compose["stop_grace_period"]


def seconds(duration: str) -> float:
    assert duration.endswith("s"), duration
    return float(duration[:-1])


@pytest.mark.parametrize("name", ON_THE_SWARM)
def test_each_service_is_what_a_swarm_can_run(name: str) -> None:
    swarm = SERVICES[name]
    # stack deploy ignores these: build happens before (make stack-images), tmpfs is a mount,
    # and ordering is the healthchecks' and restart policies' job.
    assert not {"build", "tmpfs", "depends_on", "profiles", "restart"} & set(swarm)
    assert swarm["image"]
    # No bind mount: nothing of the repository has to exist on a node.
    for volume in swarm.get("volumes", []):
        if isinstance(volume, dict):
            assert volume["type"] in {"tmpfs", "volume"}, volume
        else:
            assert volume.split(":")[0] in STACK.get("volumes", {}), volume
    if compose_tmpfs := COMPOSE["services"][name].get("tmpfs"):
        mounted = {v["target"] for v in swarm.get("volumes", []) if isinstance(v, dict) and v["type"] == "tmpfs"}
        assert mounted >= set(compose_tmpfs)  # postgres: /dev/shm too, for compose's shm_size
    deploy = swarm["deploy"]
    assert deploy["endpoint_mode"] == "dnsrr"  # no IPVS virtual IP (and none needed)
    assert deploy["restart_policy"]["condition"] == "any"
    for port in swarm.get("ports", []):
        assert port["mode"] == "host", port


@pytest.mark.parametrize("name", APP)
def test_the_services_roll_out_safely_and_spread(name: str) -> None:
    deploy = SERVICES[name]["deploy"]
    assert deploy["replicas"] >= 2
    assert deploy["placement"]["max_replicas_per_node"] <= deploy["replicas"]
    update = deploy["update_config"]
    assert (update["order"], update["failure_action"]) == ("start-first", "rollback")
    assert deploy["rollback_config"]["order"] == "start-first"
    assert SERVICES[name]["stop_grace_period"]


def test_postgres_stays_on_its_labelled_node_and_never_runs_twice() -> None:
    deploy = SERVICES["postgres"]["deploy"]
    assert deploy["replicas"] == 1
    assert deploy["placement"]["constraints"] == ["node.labels.async-web-stack.db == true"]
    assert deploy["update_config"]["order"] == deploy["rollback_config"]["order"] == "stop-first"


def test_the_init_scripts_are_configs_for_every_file_of_postgres_folder() -> None:
    configs = {c["target"].rsplit("/", 1)[1]: STACK["configs"][c["source"]]["file"]
               for c in SERVICES["postgres"]["configs"]}
    assert configs == {p.name: f"../../postgres/{p.name}" for p in (ROOT / "postgres").iterdir()}
    assert all((SWARM / path).is_file() for path in configs.values())


def test_nginx_runs_on_every_node_on_the_nodes_own_port() -> None:
    nginx = SERVICES["nginx"]
    assert nginx["deploy"]["mode"] == "global"
    assert [port["target"] for port in nginx["ports"]] == [int(nginx["environment"]["LISTEN_PORT"])]


def test_locust_workers_reach_nginx_only() -> None:
    for name in ("locust-master", "locust-worker"):
        assert SERVICES[name]["networks"] == ["load"]
    assert SERVICES["locust-worker"]["deploy"]["mode"] == "global"  # spread over every node


def test_secrets_come_from_the_files_make_secrets_writes() -> None:
    for name, secret in STACK["secrets"].items():
        assert secret["file"] == f"../../.secrets/{name}"
        assert COMPOSE["secrets"][name]["file"] == f"./.secrets/{name}"


@pytest.mark.compose  # needs the docker CLI, which make test-compose has
def test_docker_stack_deploy_accepts_the_files() -> None:
    """`docker stack config` loads and validates them as `docker stack deploy` would (its schema is
    narrower than compose's), without a swarm."""
    command = ["docker", "stack", "config", "-c", "deploy/swarm/stack.yaml", "-c", "deploy/swarm/loadtest.yaml"]
    result = subprocess.run(command, cwd=ROOT, env={**os.environ, "REGISTRY": "registry.invalid:5000"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "async-web-stack-api" in result.stdout
