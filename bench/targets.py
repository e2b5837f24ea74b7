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

BENCH_DIR = Path(__file__).resolve().parent
BASELINES_DIR = BENCH_DIR / "baselines"
# wrk scripts, for targets that are more than one GET of one URL
RANDOM_PRODUCT_SCRIPT = BENCH_DIR / "random_product.lua"  # a random seeded id per request
CREATE_PRODUCT_SCRIPT = BENCH_DIR / "create_product.lua"  # POST a new product per request
MIX_SCRIPT = BENCH_DIR / "mix.lua"  # the load test's traffic shape
# The mix's latency target: besides its saturated run, the highest rate it sustains at this p99.
MIX_P99_BOUND_MS = 50.0
FLASK_WORKERS = 8  # the textbook's `gunicorn -w 8`, whatever the CPU count


@dataclass(frozen=True)
class Target:
    name: str  # short id: keys of the JSON, file names
    label: str  # what the table shows
    kind: str  # "ours", "baseline" (same query, textbook code) or "floor" (no database, no framework)
    url: str
    description: str
    script: Path | None = None  # a wrk script; None: plain GET of url
    script_args: list[str] = field(default_factory=list)
    probe: str = ""  # a URL that answers 200 once the target serves; "" for url itself
    process: str | None = None  # the Stack process that serves this target (baselines), stopped after it
    # Also find the highest rate at which p99 stays under this (bench/paced.py): a second row.
    p99_bound_ms: float | None = None

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
    script: Path | None = None
    script_args: tuple[str, ...] = ()  # {path}, {first} and {last} (the seeded product ids) filled in
    probe: str = ""  # the probe's path, when not `path`

    def spawn(
        self, stack: Stack, workers: int, product_ids: tuple[int, int], started: dict[tuple[str, ...], tuple]
    ) -> Target:
        """Start the baseline's process, or reuse the one an earlier baseline with the same command
        started (`started`: command → process name, root URL): aiohttp's brand list, product and
        insert are one app, as in the book, and its one pool counts once against the connection limit."""
        if tuple(self.command) in started:
            process, root = started[tuple(self.command)]
        else:
            port = free_port()
            fill = {"port": port, "workers": workers, "python": sys.executable}
            command = [part.format(**fill) for part in self.command]
            env = {
                **stack.service_env("api"),
                "DATABASE_URL": stack.database_url(SUPERUSER, with_password=True),
                "PORT": str(port),
            }
            process, root = f"bench-{self.name}", f"http://127.0.0.1:{port}"
            stack.spawn(process, command, env=env, cwd=BASELINES_DIR)
            started[tuple(self.command)] = (process, root)
        first, last = product_ids
        return Target(
            self.name,
            self.label,
            self.kind,
            root if self.script else f"{root}{self.path}",
            self.description,
            script=self.script,
            script_args=[arg.format(path=self.path, first=first, last=last) for arg in self.script_args],
            probe=f"{root}{self.probe}" if self.probe else "",
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
        "aiohttp-product",
        "aiohttp /products/{id} (textbook)",
        "baseline",
        "aiohttp, the book's product handler (pool.fetchrow, json_response), a random seeded id per request",
        "/products/",
        ["{python}", "aiohttp_app.py"],
        script=RANDOM_PRODUCT_SCRIPT,
        script_args=("{path}", "{first}", "{last}"),
        probe="/products/1",
    ),
    Baseline(
        "aiohttp-create",
        "aiohttp INSERT (textbook)",
        "baseline",
        "aiohttp, the book's insert handler: one INSERT per POST, 201 with no body",
        "/product",
        ["{python}", "aiohttp_app.py"],
        script=CREATE_PRODUCT_SCRIPT,
        script_args=("{path}",),
        probe="/brands",
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


def our_targets(stack: Stack, product_ids: tuple[int, int], token: str) -> list[Target]:
    """`token`: the bearer token the api's writes need."""
    edge, api, legacy = stack.http_url, stack.service_url("api"), stack.service_url("legacy")
    first, last = product_ids
    seeded = [str(first), str(last)]
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
            script=RANDOM_PRODUCT_SCRIPT,
            script_args=["/api/products/", *seeded],
            probe=f"{edge}/api/products/{first}",
        ),
        Target(
            "legacy-product-nginx",
            "/legacy/products/{id} via nginx",
            "ours",
            edge,
            f"services/legacy, one product by a random id in {first}..{last}",
            script=RANDOM_PRODUCT_SCRIPT,
            script_args=["/legacy/products/", *seeded],
            probe=f"{edge}/legacy/products/{first}",
        ),
        Target(
            "api-create-nginx",
            "POST /api/products via nginx",
            "ours",
            edge,
            "services/api, a new product per request (201 with the row and Location)",
            script=CREATE_PRODUCT_SCRIPT,
            script_args=["/api/products", token],
            probe=f"{edge}/api/brands",
        ),
        Target(
            "mix-nginx",
            "the load test's mix via nginx",
            "ours",
            edge,
            "api product pages, products by id (a tenth missing), brands, creates, read-backs and "
            "deletes, legacy products, brands and time, shaped like loadtest/users.py",
            script=MIX_SCRIPT,
            script_args=[*seeded, token],
            probe=f"{edge}/api/products/{first}",
            p99_bound_ms=MIX_P99_BOUND_MS,
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


# The routes whose metrics' cost is measured: service → (the target it stands for, its path via nginx).
METERED = {"api": ("api-nginx", "/api/brands"), "legacy": ("legacy-nginx", "/legacy/brands")}


class MetricsTwins:
    """What the metrics cost, free of which process happens to be faster: each pair of runs gets a
    fresh instance of the service with its metrics on and one with them off (METRICS_PORT=0), each
    behind one of two nginx of their own, the two swapped every pair.

    Two instances of the same code and settings differ by up to 8 µs of CPU per request in one
    sitting on this machine (bench/README.md, sixth round): as much as the metrics cost. The stack's
    own instance against one twin measured that difference with the metrics', for the whole run."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        # Per edge: its URL and the ports its api and legacy upstreams are started on.
        self.edges: list[tuple[str, dict[str, int]]] = []
        for edge in ("a", "b"):
            upstreams, port = {"api": free_port(), "legacy": free_port()}, free_port()
            stack.start_nginx(
                f"bench-nginx-twins-{edge}",
                LISTEN_PORT=str(port),
                STATUS_LISTEN=f"127.0.0.1:{free_port()}",
                API_UPSTREAM=f"127.0.0.1:{upstreams['api']}",
                LEGACY_UPSTREAM=f"127.0.0.1:{upstreams['legacy']}",
            )
            self.edges.append((f"http://127.0.0.1:{port}", upstreams))

    # Each side of a pair: its name in the results, whether its metrics are on, the environment added.
    SIDES = (("with", "on", {}), ("without", "off", {"METRICS_PORT": "0"}))

    def start(self, service: str, pair: int) -> dict[str, Target]:
        """Pair number `pair`'s fresh instances of `service`, serving: side ("with", "without") → target."""
        metered, path = METERED[service]
        edges = self.edges if pair % 2 else self.edges[::-1]
        targets = {}
        for (side, metrics, env), (edge, upstreams) in zip(self.SIDES, edges):
            process = f"bench-{service}-metrics-{metrics}"
            self.stack.start_service_instance(service, process, upstreams[service], env)
            targets[side] = Target(
                f"{metered}-metrics-{metrics}",
                f"{path} via nginx, metrics {metrics}",
                "ours",
                f"{edge}{path}",
                f"a fresh services/{service} behind nginx as deployed, metrics {metrics}",
                process=process,
            )
        self.stack.wait_ready(urls=[target.url for target in targets.values()])
        return targets

    def stop(self, targets: dict[str, Target]) -> None:
        for target in targets.values():
            self.stack.stop_process(target.process)


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


def start_baselines(stack: Stack, workers: int, product_ids: tuple[int, int]) -> list[Target]:
    started: dict[tuple[str, ...], tuple] = {}
    return [
        start_nginx_hello(stack),
        *(baseline.spawn(stack, workers, product_ids, started) for baseline in BASELINES),
    ]


def probe_url(target: Target) -> str:
    """A URL that answers 200 once the target serves."""
    return target.probe or target.url
