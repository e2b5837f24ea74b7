"""Prometheus's side, checked without starting it: promtool accepts the config and the rules, every
alert's unit test passes (prometheus/tests/), and the scrape jobs match what compose runs: each
service's metrics port, each exporter, found by service name so that --scale is followed."""

import subprocess

import pytest
import yaml

from dev.stack import ROOT, SERVICES, promtool
from tests.test_static import COMPOSE, environment

PROMETHEUS = ROOT / "prometheus"
CONFIG = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
# The exporters' own ports (nginx-prometheus-exporter, postgres_exporter).
EXPORTERS = {"nginx": ("nginx-exporter", 9113), "postgres": ("postgres-exporter", 9187)}


@pytest.mark.parametrize(
    "check",
    [
        ["check", "config", "prometheus.yml"],
        ["check", "rules", "rules/recording.yml", "rules/alerts.yml"],
        ["test", "rules", "tests/rules.test.yml"],
    ],
    ids=["config", "rules", "rule-unit-tests"],
)
def test_promtool_accepts_it(check: list[str]) -> None:
    result = subprocess.run([promtool(), *check], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def scrape_targets() -> dict[str, tuple[str, int]]:
    """Each job's (name asked of Docker's DNS, port)."""
    found = {}
    for job in CONFIG["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            [name] = sd["names"]
            found[job["job_name"]] = (name, sd["port"])
            assert sd["type"] == "A"  # one address per replica
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_is_scraped_by_name_on_its_metrics_port(service: str) -> None:
    assert scrape_targets()[service] == (service, int(environment(service)["METRICS_PORT"]))


@pytest.mark.parametrize("job", sorted(EXPORTERS))
def test_each_exporter_is_a_compose_service_and_scraped(job: str) -> None:
    name, port = EXPORTERS[job]
    assert scrape_targets()[job] == (name, port)
    spec = COMPOSE["services"][name]
    assert spec["profiles"] == ["observability"]
    assert not spec.get("ports")  # reached by Prometheus on the compose networks only


def test_prometheus_is_opt_in_and_its_ui_is_on_loopback_only() -> None:
    spec = COMPOSE["services"]["prometheus"]
    assert spec["profiles"] == ["observability"]
    assert [port.split(":")[0] for port in spec["ports"]] == ["127.0.0.1"]
    mounted = [volume.split(":")[:2] for volume in spec["volumes"]]
    assert ["./prometheus", "/etc/prometheus"] in mounted


def test_nginx_exporter_reads_stub_status_on_the_unpublished_listener() -> None:
    [scrape_uri] = COMPOSE["services"]["nginx-exporter"]["command"]
    assert (
        scrape_uri == f"--nginx.scrape-uri=http://nginx:{environment('nginx')['STATUS_LISTEN']}/stub_status"
    )
    assert all(
        not port.endswith(f":{environment('nginx')['STATUS_LISTEN']}")
        for port in COMPOSE["services"]["nginx"]["ports"]
    )


def test_postgres_exporter_logs_in_as_the_monitor_role_with_a_secret() -> None:
    exporter = environment("postgres-exporter")
    postgres = environment("postgres")
    assert exporter["DATA_SOURCE_USER"] == postgres["MONITOR_DB_USER"]
    assert exporter["DATA_SOURCE_PASS_FILE"] == postgres["MONITOR_DB_PASSWORD_FILE"]
    assert COMPOSE["services"]["postgres-exporter"]["secrets"] == ["monitor_db_password"]
