"""What the benchmark hits: our services (through nginx and direct) and the textbook baselines.

Every baseline runs beside the native stack (dev/stack.py), on a free loopback port, against the
stack's one seeded database. They log in as the superuser: the services' roles are capped at what
the services' own pools need (postgres/02-roles.sh), and a baseline's pool must not take from them.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from dev.stack import SUPERUSER, Stack, free_port, render_template

BASELINES_DIR = Path(__file__).resolve().parent / "baselines"
RANDOM_PRODUCT_SCRIPT = Path(__file__).resolve().parent / "random_product.lua"
FLASK_WORKERS = 8  # the textbook's `gunicorn -w 8`, whatever the CPU count


@dataclass(frozen=True)
class Target:
    name: str  # short id: keys of the JSON, file names
    label: str  # what the table shows
    kind: str  # "ours", "baseline" (same query, textbook code) or "floor" (no database, no framework)
    url: str
    description: str
    script_args: list[str] = field(default_factory=list)  # for random_product.lua; empty: plain GET
    process: str | None = None  # the Stack process that serves only this target (baselines)

    @property
    def ours(self) -> bool:
        return self.kind == "ours"


@dataclass(frozen=True)
class Baseline:
    name: str
    label: str
    kind: str
    description: str
    path: str  # the route that answers
    command: list[str]  # {port} and {workers} are filled in

    def spawn(self, stack: Stack, workers: int) -> Target:
        port = free_port()
        command = [part.format(port=port, workers=workers, python=sys.executable) for part in self.command]
        env = {
            **stack.service_env("api"),
            "DATABASE_URL": stack.database_url(SUPERUSER, with_password=True),
            "PORT": str(port),
        }
        process = f"bench-{self.name}"
        stack.spawn(process, command, env=env, cwd=BASELINES_DIR)
        return Target(
            self.name,
            self.label,
            self.kind,
            f"http://127.0.0.1:{port}{self.path}",
            self.description,
            process=process,
        )


UVICORN = [
    "{python}",
    "-m",
    "uvicorn",
    "--host",
    "127.0.0.1",
    "--port",
    "{port}",
    "--workers",
    "{workers}",
    "--no-access-log",
]
GUNICORN = ["{python}", "-m", "gunicorn", "--bind", "127.0.0.1:{port}"]

BASELINES = [
    Baseline(
        "aiohttp",
        "aiohttp (textbook)",
        "baseline",
        "aiohttp, one process, asyncio loop, asyncpg pool of 6",
        "/brands",
        ["{python}", "aiohttp_app.py"],
    ),
    Baseline(
        "fastapi",
        "FastAPI (textbook)",
        "baseline",
        "FastAPI, Depends yields a pooled asyncpg connection, list of dicts; uvicorn --workers N",
        "/brands",
        [*UVICORN, "fastapi_app:app"],
    ),
    Baseline(
        "flask",
        "Flask + psycopg2 (textbook)",
        "baseline",
        f"Flask, psycopg2, gunicorn -w {FLASK_WORKERS} sync workers",
        "/brands",
        [*GUNICORN, "-w", str(FLASK_WORKERS), "flask_app:app"],
    ),
    Baseline(
        "django",
        "Django async (textbook)",
        "baseline",
        "Django async view over the ORM; gunicorn -w N -k uvicorn_worker.UvicornWorker",
        "/brands",
        [*GUNICORN, "-w", "{workers}", "-k", "uvicorn_worker.UvicornWorker", "django_app:application"],
    ),
    Baseline(
        "raw-asgi",
        "raw ASGI hello",
        "floor",
        "a bare ASGI callable, no database; uvicorn --workers N",
        "/",
        [*UVICORN, "raw_asgi:app"],
    ),
    Baseline(
        "raw-wsgi",
        "raw WSGI hello",
        "floor",
        "a bare WSGI callable, no database; gunicorn -w N sync workers",
        "/",
        [*GUNICORN, "-w", "{workers}", "raw_wsgi:app"],
    ),
]


def our_targets(stack: Stack, product_ids: tuple[int, int]) -> list[Target]:
    edge, api, legacy = stack.http_url, stack.service_url("api"), stack.service_url("legacy")
    first, last = product_ids
    return [
        Target(
            "api-nginx",
            "/api/brands via nginx",
            "ours",
            f"{edge}/api/brands",
            "services/api (FastAPI) behind nginx, as deployed",
        ),
        Target(
            "legacy-nginx",
            "/legacy/brands via nginx",
            "ours",
            f"{edge}/legacy/brands",
            "services/legacy (aiohttp) behind nginx, as deployed",
        ),
        Target(
            "api-product-nginx",
            "/api/products/{id} via nginx",
            "ours",
            edge,
            f"services/api, one product by a random id in {first}..{last}",
            script_args=["/api/products/", str(first), str(last)],
        ),
        Target(
            "api-direct",
            "api /brands direct",
            "ours",
            f"{api}/brands",
            "services/api on its own port, no nginx",
        ),
        Target(
            "legacy-direct",
            "legacy /brands direct",
            "ours",
            f"{legacy}/brands",
            "services/legacy on its own port, no nginx",
        ),
    ]


def start_metrics_off(stack: Stack) -> dict[str, Target]:
    """The api and legacy once more with their metrics off (METRICS_PORT=0), behind an nginx of their
    own: each /brands target gets a twin that differs only in recording metrics, by its name."""
    api = stack.start_service_instance("api", "bench-api-metrics-off", env={"METRICS_PORT": "0"})
    legacy = stack.start_service_instance("legacy", "bench-legacy-metrics-off", env={"METRICS_PORT": "0"})
    port = free_port()
    stack.start_nginx(
        "bench-nginx-metrics-off",
        LISTEN_PORT=str(port),
        STATUS_LISTEN=f"127.0.0.1:{free_port()}",
        API_UPSTREAM=api.removeprefix("http://"),
        LEGACY_UPSTREAM=legacy.removeprefix("http://"),
    )
    edge = f"http://127.0.0.1:{port}"
    return {
        "api-nginx": Target(
            "api-nginx-metrics-off",
            "/api/brands via nginx, metrics off",
            "ours",
            f"{edge}/api/brands",
            "services/api behind nginx as deployed, with METRICS_PORT=0: what the metrics cost",
        ),
        "legacy-nginx": Target(
            "legacy-nginx-metrics-off",
            "/legacy/brands via nginx, metrics off",
            "ours",
            f"{edge}/legacy/brands",
            "services/legacy behind nginx as deployed, with METRICS_PORT=0: what the metrics cost",
        ),
    }


def start_nginx_hello(stack: Stack) -> Target:
    """nginx answering a fixed body by itself: the most the edge can do on this machine."""
    port = free_port()
    prefix = stack.state_dir / "nginx-hello"
    prefix.mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(render_template(BASELINES_DIR / "nginx-hello.conf.template", {"LISTEN_PORT": str(port)}))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    process = "bench-nginx-hello"
    stack.spawn(process, [nginx, "-p", f"{prefix}/", "-c", str(conf), "-e", "stderr", "-g", "daemon off;"])
    return Target(
        "nginx-hello",
        "nginx return 200",
        "floor",
        f"http://127.0.0.1:{port}/",
        "nginx alone (return 200 with a fixed body): the edge's ceiling",
        process=process,
    )


def start_baselines(stack: Stack, workers: int) -> list[Target]:
    return [start_nginx_hello(stack), *(baseline.spawn(stack, workers) for baseline in BASELINES)]


def probe_url(target: Target) -> str:
    """A URL that answers 200 once the target serves (the random-product target: its first id)."""
    return target.url + "".join(target.script_args[:2])
