"""Each service's database role, logged in as that service does (tests/db_role_probe.py, run with the
service's own environment: natively beside the stack, in compose inside the service's container,
with the password from its compose secret): what the service needs works, everything else — another
service's tables, writes the service never makes, DDL, temporary tables, other databases, reading
server files, a query that runs on, a transaction left open — is refused or cut off by the server."""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dev.stack import SERVICES, Stack

PROBE = Path(__file__).with_name("db_role_probe.py")
REFUSED = "42501"  # insufficient_privilege
CANCELED = "57014"  # query_canceled: statement_timeout
HEADROOM = 5  # postgres/02-roles.sh
COUNTER_MAX_REPLICAS = 4  # compose's default and dev/stack.py's

ALLOWED = {
    "api": ["read the catalogue", "create a product", "delete a product"],
    "legacy": ["read brands and products"],
    "counter": ["keep presence", "purge presence", "notify"],
}
FORBIDDEN = {
    "api": [
        "update a product", "write brands", "delete brands", "write skus", "read presence", "write presence",
    ],
    "legacy": [
        "create a product", "delete a product", "update a product", "write brands", "read skus",
        "read presence", "write presence",
    ],
    "counter": ["read brands", "read products", "create a product", "delete a product"],
}  # fmt: skip
FORBIDDEN_TO_ALL = [
    "create table", "create temp table", "drop table", "alter table", "create role", "create schema",
    "create function", "read a server file", "connect to postgres", "connect to template1",
]  # fmt: skip


def run_probe(native_stack: Stack | None, service: str) -> dict:
    source = PROBE.read_text()
    if native_stack is not None:
        command, env = [sys.executable, "-"], native_stack.service_env(service)
    else:
        project = os.environ["STACK_COMPOSE_PROJECT"]
        command, env = ["docker", "compose", "-p", project, "exec", "-T", service, "python", "-"], None
    run = subprocess.run(command, input=source, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


@pytest.fixture(scope="module")
def probes(native_stack: Stack | None) -> dict[str, dict]:
    # The three at once: each waits out its role's timeouts (about 16 s).
    with ThreadPoolExecutor(len(SERVICES)) as pool:
        results = pool.map(lambda service: run_probe(native_stack, service), SERVICES)
        return dict(zip(SERVICES, results))


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_logs_in_as_its_own_role(probes: dict[str, dict], service: str) -> None:
    assert probes[service]["role"] == service


@pytest.mark.parametrize("service", SERVICES)
def test_what_the_service_needs_works(probes: dict[str, dict], service: str) -> None:
    assert {name: probes[service][name] for name in ALLOWED[service]} == dict.fromkeys(ALLOWED[service], "ok")


@pytest.mark.parametrize("service", SERVICES)
def test_everything_else_is_refused(probes: dict[str, dict], service: str) -> None:
    attempts = FORBIDDEN[service] + FORBIDDEN_TO_ALL
    assert {name: probes[service][name] for name in attempts} == dict.fromkeys(attempts, REFUSED)


@pytest.mark.parametrize("service", SERVICES)
def test_a_long_query_and_an_open_transaction_are_cut_off(probes: dict[str, dict], service: str) -> None:
    probe = probes[service]
    assert (probe["statement_timeout"], probe["idle_in_transaction_session_timeout"]) == ("5s", "10s")
    assert probe["long pg_sleep"] == CANCELED
    # The server ends the session (25P03), which the client sees as its connection closing.
    assert probe["idle in transaction"] in {"closed by the server", "25P03"}


@pytest.mark.parametrize("service", SERVICES)
def test_connections_are_capped_at_what_the_pools_need(probes: dict[str, dict], service: str) -> None:
    probe = probes[service]
    workers, pool = int(probe["pool"]["WORKERS"]), int(probe["pool"]["DB_POOL_MAX"])
    if service == "counter":  # one LISTEN connection more per process, and room for replicas
        expected = COUNTER_MAX_REPLICAS * workers * (pool + 1) + HEADROOM
    else:
        expected = workers * pool + HEADROOM
    assert probe["connection limit"] == expected


def test_no_password_is_on_a_command_line_at_init(tmp_path: Path) -> None:
    """Any local user can read every process's argv (/proc/<pid>/cmdline): the init script must hand
    the passwords to psql some other way. A stand-in psql on PATH records its argv and stdin."""
    bin_dir, record = tmp_path / "bin", tmp_path / "record"
    bin_dir.mkdir()
    (bin_dir / "psql").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}.argv\ncat > {record}.stdin\n')
    (bin_dir / "psql").chmod(0o755)
    passwords = {service: f"secret-of-{service}-{os.getpid()}" for service in SERVICES}
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "POSTGRES_USER": "postgres", "POSTGRES_DB": "products"}
    env |= {"WORKERS": "2", "COUNTER_MAX_REPLICAS": "4"}
    for service, password in passwords.items():
        (tmp_path / service).write_text(password)
        env[f"{service.upper()}_DB_PASSWORD_FILE"] = str(tmp_path / service)
        env[f"{service.upper()}_DB_POOL_MAX"] = "10"
    script = Path(__file__).resolve().parent.parent / "postgres" / "02-roles.sh"
    subprocess.run(["bash", str(script)], env=env, check=True, capture_output=True, timeout=30)
    argv = Path(f"{record}.argv").read_text()
    assert "CREATE ROLE api" in Path(f"{record}.stdin").read_text()  # the stand-in did run
    for service, password in passwords.items():
        assert password not in argv
        assert str(tmp_path / service) in argv  # the file's name is passed, for psql to read
