"""The swarm stack (deploy/swarm/) checked without a swarm: it says what compose.yaml says, service by
service, and differs only where a swarm needs it to. A setting added to compose and not to the
stack fails here, not on someone's cluster. make test-swarm deploys and tests it for real."""

import json
import os
import re
import subprocess

import pytest
import yaml

from tests.test_static import COMPOSE, interpolate
from dev.stack import ROOT

SWARM = ROOT / "deploy" / "swarm"
STACK = yaml.safe_load(interpolate((SWARM / "stack.yaml").read_text()))
LOADTEST = yaml.safe_load(interpolate((SWARM / "loadtest.yaml").read_text()))
OBSERVABILITY = yaml.safe_load(interpolate((SWARM / "observability.yaml").read_text()))
SERVICES = {**STACK["services"], **LOADTEST["services"], **OBSERVABILITY["services"]}
ON_THE_SWARM = sorted(COMPOSE["services"])
OBSERVED = sorted(OBSERVABILITY["services"])
APP = ["api", "legacy", "counter"]
# Environment values that differ on purpose (the reasons are beside them in stack.yaml).
SWARM_VALUES = {
    ("api", "DB_POOL_MAX"),
    ("legacy", "DB_POOL_MAX"),
    ("counter", "PING_INTERVAL_SECONDS"),
    *((name, "DRAIN_SECONDS") for name in APP),
    ("nginx", "LIMIT_EXEMPT_CIDR"),
    ("nginx", "STATUS_LISTEN"),
}
# Commands that differ on purpose: the exporter reads its own node's nginx through a socket.
SWARM_COMMANDS = {"nginx-exporter"}


def test_the_stack_has_every_compose_service() -> None:
    assert set(SERVICES) == set(ON_THE_SWARM)
    observability = {name for name, service in COMPOSE["services"].items() if "observability" in service.get("profiles", [])}
    assert set(OBSERVED) == observability


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
    assert swarm.get("healthcheck", {}).get("test") == compose.get("healthcheck", {}).get("test")
    if "command" in compose and name not in SWARM_COMMANDS:
        assert swarm["command"] == compose["command"]
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
            assert volume.split(":")[0] in {**STACK["volumes"], **OBSERVABILITY["volumes"]}, volume
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
    for name, secret in [*STACK["secrets"].items(), *LOADTEST["secrets"].items(), *OBSERVABILITY["secrets"].items()]:
        assert secret["file"] == f"../../.secrets/{name}"
        assert COMPOSE["secrets"][name]["file"] == f"./.secrets/{name}"


@pytest.mark.compose  # needs the docker CLI, which make test-compose has
def test_docker_stack_deploy_accepts_the_files() -> None:
    """`docker stack config` loads and validates them as `docker stack deploy` would (its schema is
    narrower than compose's), without a swarm."""
    command = ["docker", "stack", "config", "-c", "deploy/swarm/stack.yaml", "-c", "deploy/swarm/loadtest.yaml",
               "-c", "deploy/swarm/observability.yaml"]
    result = subprocess.run(command, cwd=ROOT, env={**os.environ, "REGISTRY": "registry.invalid:5000"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "async-web-stack-api" in result.stdout
    assert "registry.invalid:5000/prom/prometheus:v3.5.0" in result.stdout


# -- Prometheus and its exporters (observability.yaml) ---------------------------------------------


@pytest.mark.parametrize("name", OBSERVED)
def test_the_public_images_come_from_the_registry(name: str) -> None:
    """The image compose names, under REGISTRY without its own registry host."""
    public = COMPOSE["services"][name]["image"]
    host, _, path = public.partition("/")
    assert SERVICES[name]["image"] == f"set REGISTRY/{path if '.' in host else public}"


def test_make_stack_images_pushes_every_public_image_the_stack_names() -> None:
    """OBSERVABILITY_IMAGES, since the nodes pull from REGISTRY only."""
    makefile = (ROOT / "Makefile").read_text()
    images = re.search(r"^OBSERVABILITY_IMAGES := (.*?[^\\])$", makefile, re.M | re.S).group(1).split()
    assert sorted(image for image in images if image != "\\") == sorted(
        COMPOSE["services"][n]["image"] for n in OBSERVED)


def test_prometheus_reads_the_same_files_as_in_compose() -> None:
    """compose mounts prometheus/ at /etc/prometheus; the swarm has each file there as a config."""
    configs = {c["target"]: OBSERVABILITY["configs"][c["source"]]["file"] for c in SERVICES["prometheus"]["configs"]}
    files = [path for path in (ROOT / "prometheus").rglob("*.yml") if "tests" not in path.parts]
    assert configs == {f"/etc/prometheus/{path.relative_to(ROOT / 'prometheus')}": f"../../{path.relative_to(ROOT)}"
                       for path in files}
    assert ["./prometheus", "/etc/prometheus"] in [v.split(":")[:2] for v in COMPOSE["services"]["prometheus"]["volumes"]]


def test_prometheus_publishes_no_port_and_keeps_its_history_on_one_node() -> None:
    prometheus = SERVICES["prometheus"]
    assert "ports" not in prometheus  # a swarm cannot publish on 127.0.0.1 (README)
    deploy = prometheus["deploy"]
    assert deploy["replicas"] == 1 and deploy["placement"]["constraints"]
    assert deploy["update_config"]["order"] == deploy["rollback_config"]["order"] == "stop-first"


def test_an_nginx_exporter_runs_beside_every_nginx_and_reads_its_socket() -> None:
    nginx, exporter = SERVICES["nginx"], SERVICES["nginx-exporter"]
    assert exporter["deploy"]["mode"] == nginx["deploy"]["mode"] == "global"
    assert exporter["deploy"].get("placement") == nginx["deploy"].get("placement")
    socket = nginx["environment"]["STATUS_LISTEN"].removeprefix("unix:")
    [scrape_uri] = exporter["command"]
    assert scrape_uri == f"--nginx.scrape-uri=unix:{socket}:/stub_status"
    # One node-local volume holds it, mounted in both; only nginx's user (the exporter's) may enter.
    [shared] = [v for v in nginx["volumes"] if v["type"] == "volume"]
    assert [v for v in exporter["volumes"]] == [{**shared, "read_only": True}]
    assert socket.startswith(shared["target"] + "/")
    options = STACK["volumes"][shared["source"]]["driver_opts"]
    assert options["type"] == "tmpfs" and "mode=0700" in options["o"]
    assert f"uid={exporter['user'].split(':')[0]}," in options["o"]
    # A socket a killed nginx left behind is removed before nginx starts again, as the image would.
    assert f"rm -f {socket} &&" in " ".join(nginx["entrypoint"])
    dockerfile = (ROOT / "nginx" / "Dockerfile").read_text()
    assert nginx["command"] == json.loads(re.search(r"^CMD (.*)$", dockerfile, re.M).group(1))
