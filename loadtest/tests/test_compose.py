"""The Locust services in compose.yaml, checked without starting them (as tests/test_static.py does
for the rest): every LOCUST_* variable is an option Locust or the locustfile reads, the master aims
at nginx and may, the workers find the master, Locust sits on the load network only, and its web UI
is published on this machine's loopback only unless LOCUST_BIND says otherwise."""

from urllib.parse import urlsplit

import pytest
from locust.argument_parser import get_parser

from loadtest import hosts, thresholds, users
from tests.test_static import COMPOSE, environment

LOCUST_SERVICES = ["locust-master", "locust-worker"]


def known_variables() -> set[str]:
    parser = get_parser()
    hosts.add_options(parser)
    thresholds.add_options(parser)
    users.add_options(parser)
    return {action.env_var for action in parser._actions if getattr(action, "env_var", None)}


@pytest.mark.parametrize("service", LOCUST_SERVICES)
def test_every_variable_set_for_locust_is_one_it_reads(service: str) -> None:
    # Locust ignores an unknown LOCUST_* variable silently; a typo would change nothing, unnoticed.
    assert set(environment(service)) <= known_variables(), set(environment(service)) - known_variables()


def test_the_master_targets_nginx_on_its_port_and_the_guard_allows_it() -> None:
    master = environment("locust-master")
    target = urlsplit(master["LOCUST_HOST"])
    assert target.hostname == "nginx" and target.port == int(environment("nginx")["LISTEN_PORT"])
    assert hosts.refusal(master["LOCUST_HOST"], hosts.parse_allowed(master["LOCUST_ALLOWED_HOSTS"])) is None


def test_workers_connect_to_the_master() -> None:
    worker = environment("locust-worker")
    assert worker["LOCUST_MASTER_NODE_HOST"] == "locust-master"
    assert worker["LOCUST_ALLOWED_HOSTS"] == environment("locust-master")["LOCUST_ALLOWED_HOSTS"]
    assert (
        COMPOSE["services"]["locust-worker"]["depends_on"]["locust-master"]["condition"] == "service_healthy"
    )


@pytest.mark.parametrize("service", LOCUST_SERVICES)
def test_locust_is_an_opt_in_client_of_nginx(service: str) -> None:
    spec = COMPOSE["services"][service]
    assert spec["networks"] == ["load"]
    assert spec["profiles"] == ["loadtest"]
    assert spec.get("ports", []) == ([] if service == "locust-worker" else ["127.0.0.1:8089:8089"])
