"""The stack as native processes: `make dev`, and what the tests start.

The same parts as compose, without containers: a throwaway PostgreSQL cluster seeded by the files
in postgres/ exactly as the image's entrypoint runs them, each service started with the CMD of its
own Dockerfile, and nginx rendered from nginx/templates/ with envsubst as the nginx image does.

    python dev/stack.py          # foreground; Ctrl-C stops everything
"""

from __future__ import annotations

import argparse
import grp
import json
import os
import pwd
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("api", "legacy", "counter")
# Below the kernel's ephemeral range (32768+), so an outgoing connection never holds one of them.
DEFAULT_PORTS = {
    "http": 8080,
    "https": 8443,
    "postgres": 15432,
    "api": 8000,
    "legacy": 8001,
    "counter": 8002,
    # Each service's Prometheus metrics (stack_common.metrics); nginx does not proxy them.
    "api_metrics": 9100,
    "legacy_metrics": 9101,
    "counter_metrics": 9102,
    "nginx_status": 8090,  # nginx's stub_status, for its Prometheus exporter
}
DATABASE = "products"
SUPERUSER = "postgres"
# Each service logs in as its own role (postgres/02-roles.sh), named like the service, with a pool of
# this many connections per worker process (the role's connection limit is sized from it).
POOL_MAX = {"api": 10, "legacy": 10, "counter": 2}
# Counter instances the counter role has connections for: the tests start extra ones beside the first.
COUNTER_MAX_REPLICAS = 4
WRITE_TOKENS = "api_write_tokens"
# make certs writes these; with both present, nginx also serves HTTPS (nginx/https.conf.template).
TLS_DIR = ROOT / ".certs"
TLS_FILES = {"TLS_CERTIFICATE": "server.crt", "TLS_KEY": "server.key"}
MONITOR_USER = "monitor"  # postgres_exporter's role (pg_monitor only)
DEBIAN_PACKAGES = {"initdb": "postgresql", "nginx": "nginx", "envsubst": "gettext-base"}


# Ports handed out below the kernel's ephemeral range: a port the kernel picked (bind to 0) is one
# it may give any outgoing connection (wrk's, nginx's to its upstreams) before our server binds it.
LOWEST_FREE_PORT = 10000
EPHEMERAL_PORTS = Path("/proc/sys/net/ipv4/ip_local_port_range")


def free_port() -> int:
    """A loopback port nothing listens on, below the ephemeral range so no outgoing connection
    takes it before the server it is meant for binds it."""
    try:
        first_ephemeral = int(EPHEMERAL_PORTS.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        first_ephemeral = 32768  # Linux's default
    for _ in range(200):
        port = secrets.choice(range(LOWEST_FREE_PORT, max(first_ephemeral, LOWEST_FREE_PORT + 1000)))
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port below {first_ephemeral}")


def postgres_bindir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    return candidates[0].parent if candidates else None


def ensure_tools() -> None:
    """PostgreSQL, nginx and envsubst: installed with apt-get when missing and we may."""
    missing = []
    if postgres_bindir() is None:
        missing.append(DEBIAN_PACKAGES["initdb"])
    for tool in ("nginx", "envsubst"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            missing.append(DEBIAN_PACKAGES[tool])
    if not missing:
        return
    apt_install(missing)


def apt_install(packages: list[str]) -> None:
    """Debian packages installed with apt-get when we are root; otherwise say what to install."""
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"installing {' '.join(packages)} with apt-get", file=sys.stderr)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]
        subprocess.run(install, check=True, env=env)
        return
    names = " ".join(packages)
    raise SystemExit(f"missing: {names}. Install them (Debian/Ubuntu: sudo apt-get install {names})")


def promtool() -> str:
    """Prometheus's promtool (config, rules and rule unit tests): on PATH, or taken out of Debian's
    `prometheus` package into .state/tools without installing it (its postinst would start a server)."""
    found = shutil.which("promtool")
    if found:
        return found
    tools = ROOT / ".state" / "tools"
    binary = tools / "usr" / "bin" / "promtool"
    if not binary.exists():
        if not shutil.which("apt-get"):
            raise SystemExit("missing: promtool (Prometheus's; Debian/Ubuntu: in the prometheus package)")
        debs = tools / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        download = ["apt-get", "download", "-qq", "prometheus"]
        if subprocess.run(download, cwd=debs, capture_output=True).returncode != 0 and os.geteuid() == 0:
            subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(download, cwd=debs, check=True, capture_output=True)
        for deb in debs.glob("prometheus_*.deb"):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(tools)], check=True)
    return str(binary)


def container_command(service: str) -> list[str]:
    """The CMD of services/<service>/Dockerfile: the native run starts exactly what the image does."""
    dockerfile = (ROOT / "services" / service / "Dockerfile").read_text()
    commands = re.findall(r"^CMD\s+(\[.*\])\s*$", dockerfile, flags=re.MULTILINE)
    if not commands:
        raise RuntimeError(f"services/{service}/Dockerfile has no exec-form CMD")
    return json.loads(commands[-1])


def render_template(template: Path, env: dict[str, str]) -> str:
    """envsubst restricted to the variables that are defined, like the nginx image's entrypoint."""
    defined = " ".join(f"${{{name}}}" for name in env)
    return subprocess.run(
        ["envsubst", defined], input=template.read_text(), env=env, capture_output=True, text=True, check=True
    ).stdout


def render_nginx(folder: Path, env: dict[str, str], https_env: dict[str, str] | None = None) -> Path:
    """nginx.conf in `folder`, and https.conf beside it (which it includes) when `https_env` is given."""
    (folder / "https.conf").unlink(missing_ok=True)
    if https_env is not None:
        (folder / "https.conf").write_text(render_template(ROOT / "nginx" / "https.conf.template", https_env))
    conf = folder / "nginx.conf"
    conf.write_text(render_template(ROOT / "nginx" / "templates" / "nginx.conf.template", env))
    return conf


# Descriptors every process of the stack may hold: one per websocket in the counter, two in nginx
# (worker_rlimit_nofile 20000 in the template). Compose sets the same with `ulimits`.
OPEN_FILES = 20_000


def raise_open_files_limit() -> None:
    """The soft limit (often 1024) up to OPEN_FILES, or the hard limit if that is lower; the
    processes the stack starts inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = OPEN_FILES if hard == resource.RLIM_INFINITY else min(OPEN_FILES, hard)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if wanted < OPEN_FILES:
        print(f"note: open files limited to {wanted} (hard limit): fewer websockets fit", file=sys.stderr)


def nginx_user() -> str:
    """nginx's workers run as whoever runs the stack, as they do for anyone but root.

    Started by root, nginx would hand its workers to `nobody`, who cannot enter a checkout (or a
    pytest folder) that only root may read — a clone under /root is mode 0700 — so the page and
    nginx's temporary files (bodies over 16 KiB) would fail there. Copying the page elsewhere
    would fix only the page, and hide edits to it until a restart. This is a loopback run on the
    user's own machine; the image keeps its unprivileged user.
    """
    if os.geteuid() != 0:
        return ""  # nginx ignores (and warns about) `user` when it is not root
    return f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};"


class Stack:
    def __init__(
        self,
        state_dir: Path,
        ports: dict[str, int] | None = None,
        workers: int | None = None,
        seed_scale: int = 1,
        echo: bool = False,
        tls_dir: Path | None = None,
    ) -> None:
        """`tls_dir` holds server.crt and server.key (make certs): nginx then also serves HTTPS."""
        self.state_dir = state_dir
        self.tls_dir = tls_dir
        self.ports = {**DEFAULT_PORTS, **(ports or {})}
        self.workers = workers
        self.seed_scale = seed_scale
        self.echo = echo
        self.processes: dict[str, subprocess.Popen] = {}
        self.logs_dir = state_dir / "logs"
        self.secrets_dir = state_dir / "secrets"
        self.nginx_dir = state_dir / "nginx"
        # PostgreSQL refuses to run as root: as root, its files live where its own user can reach.
        self.pg_user = SUPERUSER if os.geteuid() == 0 else None
        self.pg_dir = Path(tempfile.mkdtemp(prefix="stack-pg-"))
        self.pgdata = self.pg_dir / "data"
        self.bindir: Path | None = None

    @property
    def worker_count(self) -> int:
        """Worker processes per service; the roles' connection limits are sized from it."""
        return self.workers or os.cpu_count() or 1

    # -- addresses ---------------------------------------------------------------------------
    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['http']}"

    def password_file(self, role: str) -> Path:
        """The password of `role`: the superuser's, or a service's (its role has the service's name)."""
        return self.secrets_dir / ("postgres_password" if role == SUPERUSER else f"{role}_db_password")

    @property
    def https_url(self) -> str | None:
        """The HTTPS origin, by the name the certificate of make certs is for; None without TLS."""
        return f"https://localhost:{self.ports['https']}" if self.tls_dir else None

    @property
    def write_tokens_file(self) -> Path:
        """The api's write tokens, one per line (WRITE_TOKENS_FILE)."""
        return self.secrets_dir / WRITE_TOKENS

    def database_url(self, role: str = "api", with_password: bool = False) -> str:
        """A DSN over TCP as `role` (a service's, or the superuser's), as the services connect."""
        auth = role
        if with_password:
            auth += ":" + self.password_file(role).read_text().strip()
        return f"postgresql://{auth}@127.0.0.1:{self.ports['postgres']}/{DATABASE}"

    def service_url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def metrics_url(self, service: str) -> str:
        """Where a service instance (a name in `processes`) serves its metrics."""
        return f"http://127.0.0.1:{self.ports[f'{service}_metrics']}/metrics"

    # -- whole stack -------------------------------------------------------------------------
    def start(self) -> None:
        ensure_tools()
        raise_open_files_limit()
        self.bindir = postgres_bindir()
        for folder in (self.logs_dir, self.secrets_dir, self.nginx_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self._write_secrets()
        try:
            self._init_postgres()
            self.start_postgres()
            self._seed()
            for service in SERVICES:
                self.start_service(service)
            self.wait_ready([f"{self.service_url(service)}/healthz" for service in SERVICES])
            self.start_nginx()
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        self._write_env_file()

    def stop(self) -> None:
        extra_instances = [name for name in self.processes if name not in ("nginx", *SERVICES, "postgres")]
        for name in ["nginx", *extra_instances, *reversed(SERVICES), "postgres"]:
            if name in self.processes:
                self.stop_process(name)
        shutil.rmtree(self.pg_dir, ignore_errors=True)

    def env_lines(self) -> dict[str, str]:
        https = {"HTTPS_URL": self.https_url} if self.https_url else {}
        return {
            "HTTP_URL": self.http_url,
            **https,
            "WS_URL": self.http_url.replace("http", "ws", 1) + "/counter",
            "DATABASE_URL": self.database_url(with_password=True),
            "WRITE_TOKENS_FILE": str(self.write_tokens_file),
            **{f"{s.upper()}_URL": self.service_url(s) for s in SERVICES},
            **{f"{s.upper()}_METRICS_URL": self.metrics_url(s) for s in SERVICES},
            "LOGS_DIR": str(self.logs_dir),
        }

    def _write_env_file(self) -> None:
        lines = [f"{key}={value}" for key, value in self.env_lines().items()]
        (self.state_dir / "dev.env").write_text("\n".join(lines) + "\n")

    def _write_secrets(self) -> None:
        # What scripts/make-secrets.sh makes for compose, here for this stack alone.
        roles = [SUPERUSER, *SERVICES, MONITOR_USER]
        for path in [*map(self.password_file, roles), self.write_tokens_file]:
            if not path.exists():
                path.write_text(secrets.token_urlsafe(32) + "\n")
                path.chmod(0o644)  # read by the postgres user's init scripts when we are root

    # -- PostgreSQL ----------------------------------------------------------------------------
    def _as_pg_user(self) -> dict:
        if self.pg_user is None:
            return {}
        return {"user": self.pg_user, "group": pwd.getpwnam(self.pg_user).pw_gid}

    def _init_postgres(self) -> None:
        assert self.bindir is not None
        if self.pg_user is not None:
            shutil.chown(self.pg_dir, self.pg_user)
        pwfile = self.pg_dir / "pwfile"
        shutil.copy(self.secrets_dir / "postgres_password", pwfile)
        if self.pg_user is not None:
            shutil.chown(pwfile, self.pg_user)
        self._run_logged(
            "initdb",
            [str(self.bindir / "initdb"), "-D", str(self.pgdata), "-U", SUPERUSER, f"--pwfile={pwfile}",
             "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale"],
            **self._as_pg_user(),
        )
        pwfile.unlink()

    def start_postgres(self) -> None:
        assert self.bindir is not None
        self._spawn(
            "postgres",
            [str(self.bindir / "postgres"), "-D", str(self.pgdata), "-p", str(self.ports["postgres"]),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.pg_dir}"],
            env={**os.environ, "HOME": str(self.pg_dir)},
            **self._as_pg_user(),
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.ports["postgres"])]
            )
            if ready.returncode == 0:
                return
            if self.processes["postgres"].poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"PostgreSQL did not start; see {self.logs_dir / 'postgres.log'}")

    def stop_postgres(self) -> None:
        self.stop_process("postgres")

    def _psql_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PGHOST": str(self.pg_dir),
            "PGPORT": str(self.ports["postgres"]),
            "POSTGRES_USER": SUPERUSER,
            "POSTGRES_DB": DATABASE,
            "MONITOR_DB_USER": MONITOR_USER,
            "MONITOR_DB_PASSWORD_FILE": str(self.password_file(MONITOR_USER)),
            "SEED_SCALE": str(self.seed_scale),
            "WORKERS": str(self.worker_count),
            **{f"{s.upper()}_DB_PASSWORD_FILE": str(self.password_file(s)) for s in SERVICES},
            **{f"{s.upper()}_DB_POOL_MAX": str(POOL_MAX[s]) for s in SERVICES},
            "COUNTER_MAX_REPLICAS": str(COUNTER_MAX_REPLICAS),
        }

    def _seed(self) -> None:
        """What the postgres image's entrypoint does on an empty data directory, in the same order."""
        env = self._psql_env()
        psql = ["psql", "-v", "ON_ERROR_STOP=1", "-U", SUPERUSER]
        self._run_logged("seed", [*psql, "-d", "postgres", "-c", f'CREATE DATABASE "{DATABASE}"'], env=env)
        for script in sorted((ROOT / "postgres").iterdir()):
            if script.suffix == ".sql":
                self._run_logged("seed", [*psql, "-d", DATABASE, "-f", str(script)], env=env)
            elif script.suffix == ".sh":
                self._run_logged("seed", ["bash", str(script)], env=env)

    # -- services and nginx ---------------------------------------------------------------------
    def service_env(self, service: str) -> dict[str, str]:
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOST": "127.0.0.1",
            "PORT": str(self.ports[service]),
            "WORKERS": str(self.worker_count),
            "DATABASE_URL": self.database_url(service),
            "DATABASE_PASSWORD_FILE": str(self.password_file(service)),
            "DB_POOL_MAX": str(POOL_MAX[service]),
        }
        if service == "api":
            env["WRITE_TOKENS_FILE"] = str(self.write_tokens_file)
        return env

    def start_service(self, service: str) -> None:
        self.start_service_instance(service, service, self.ports[service])

    def start_service_instance(
        self, service: str, name: str, port: int | None = None, env: dict[str, str] | None = None
    ) -> str:
        """Another instance of `service` (a compose replica) on its own port, against the same
        database, with `env` added to its environment; returns its URL. `name` is its key in
        `processes`, for stop_process/signal_process. Its metrics get a port of their own too
        (metrics_url) and a directory for its workers' files.
        """
        self.ports[name] = port or free_port()
        self.ports.setdefault(f"{name}_metrics", free_port())
        metrics_dir = self.state_dir / "metrics" / name
        env = {
            **self.service_env(service),
            "PORT": str(self.ports[name]),
            "METRICS_PORT": str(self.ports[f"{name}_metrics"]),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            **(env or {}),
        }
        self._spawn(name, container_command(service), env=env, cwd=self.state_dir)
        return self.service_url(name)

    def nginx_env(self) -> dict[str, str]:
        return {
            "LISTEN_PORT": str(self.ports["http"]),
            "API_UPSTREAM": f"127.0.0.1:{self.ports['api']}",
            "LEGACY_UPSTREAM": f"127.0.0.1:{self.ports['legacy']}",
            "COUNTER_UPSTREAM": f"127.0.0.1:{self.ports['counter']}",
            # An address, not a name, so nginx never asks it; the directive still needs a server.
            "RESOLVER": "127.0.0.1",
            # Debian's nginx 1.22 has no upstream `resolve`, and fixed addresses need none.
            "UPSTREAM_RESOLVE": "",
            "STATIC_ROOT": str(ROOT / "nginx" / "html"),
            # Loopback is where make bench and make loadtest come from; tests reach the limits
            # from other loopback addresses (127.0.0.2, …).
            "LIMIT_EXEMPT_CIDR": "127.0.0.1/32",
            "STATUS_LISTEN": f"127.0.0.1:{self.ports['nginx_status']}",
            "REAL_IP_FROM": os.environ.get("REAL_IP_FROM", "0.0.0.0/32"),
        }

    def https_env(self) -> dict[str, str]:
        assert self.tls_dir is not None
        return {
            "HTTPS_PORT": str(self.ports["https"]),
            **{name: str(self.tls_dir / file) for name, file in TLS_FILES.items()},
        }

    def start_nginx(self, name: str = "nginx", **changed: str) -> None:
        """The stack's nginx; or, under another `name`, one more beside it (HTTP only) with some of
        the template's variables `changed` (another LISTEN_PORT, other upstreams)."""
        folder = self.nginx_dir if name == "nginx" else self.state_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        https = self.https_env() if self.tls_dir and name == "nginx" else None
        conf = render_nginx(folder, {**self.nginx_env(), **changed}, https)
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        prefix = f"{folder}/"
        command = [nginx, "-p", prefix, "-c", str(conf), "-e", "stderr", "-g", f"daemon off; {nginx_user()}"]
        self._run_logged(name, [*command, "-t", "-q"])
        self._spawn(name, command)

    def readiness_urls(self) -> list[str]:
        return [f"{self.http_url}/api/readyz", f"{self.http_url}/legacy/readyz", f"{self.http_url}/counter/healthz"]

    def wait_ready(self, urls: list[str] | None = None, timeout: float = 60) -> None:
        """Until every URL answers 200 (default: each service's readiness, through nginx)."""
        deadline = time.monotonic() + timeout
        for url in urls or self.readiness_urls():
            while True:
                try:
                    with urllib.request.urlopen(url, timeout=2) as response:
                        if response.status == 200:
                            break
                except (urllib.error.URLError, OSError):
                    pass
                for name, process in self.processes.items():
                    if process.poll() is not None:
                        raise RuntimeError(f"{name} exited with {process.returncode}; see {self.logs_dir / name}.log")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{url} not ready after {timeout}s; logs in {self.logs_dir}")
                time.sleep(0.1)

    def superuser_dsn(self) -> str:
        """The superuser over the cluster's unix socket (trusted locally, as in the image)."""
        return f"postgresql://{SUPERUSER}@/{DATABASE}?host={self.pg_dir}&port={self.ports['postgres']}"

    # -- processes --------------------------------------------------------------------------
    def spawn(
        self, name: str, command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        """Run one more process beside the stack (logged to logs/<name>.log; stop_process stops it)."""
        self._spawn(name, command, env=env, cwd=cwd)

    def _spawn(self, name: str, command: list[str], **kwargs) -> subprocess.Popen:
        # A session of its own: the terminal's Ctrl-C reaches us only, and we stop children in order.
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, **kwargs,
        )
        self.processes[name] = process
        threading.Thread(target=self._pump, args=(name, process), daemon=True).start()
        return process

    def _pump(self, name: str, process: subprocess.Popen) -> None:
        with open(self.logs_dir / f"{name}.log", "ab") as log:
            for line in process.stdout:
                log.write(line)
                log.flush()
                if self.echo:
                    sys.stdout.write(f"{name:>8} | {line.decode(errors='replace')}")
                    sys.stdout.flush()

    def _run_logged(self, name: str, command: list[str], **kwargs) -> None:
        with open(self.logs_dir / f"{name}.log", "ab") as log:
            result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, **kwargs)
        if result.returncode != 0:
            tail = (self.logs_dir / f"{name}.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{' '.join(command[:3])}… failed ({result.returncode}):\n{tail}")

    def signal_process(self, name: str, signum: int) -> None:
        os.killpg(self.processes[name].pid, signum)

    def stop_process(self, name: str, timeout: float = 25) -> int:
        """The polite stop each program documents, then SIGKILL for anything left in its group."""
        process = self.processes.pop(name)
        polite = {"postgres": signal.SIGINT, "nginx": signal.SIGQUIT}.get(name, signal.SIGTERM)
        if process.poll() is None:
            try:
                os.kill(process.pid, polite)
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
            except ProcessLookupError:
                pass
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state-dir", type=Path, default=ROOT / ".state")
    # Two per service by default, as compose runs them: one per CPU on a many-core laptop would
    # open more database connections than the app role may hold (see services/common settings).
    parser.add_argument(
        "--workers", type=int, default=int(os.environ.get("WORKERS", "2")), help="worker processes per service"
    )
    parser.add_argument("--seed-scale", type=int, default=int(os.environ.get("SEED_SCALE", "1")))
    args = parser.parse_args()
    ports = {key: int(os.environ.get(f"{key.upper()}_PORT", default)) for key, default in DEFAULT_PORTS.items()}
    # HTTPS as well when make certs (or you) put a certificate and key in .certs/.
    tls_dir = TLS_DIR if all((TLS_DIR / file).is_file() for file in TLS_FILES.values()) else None
    stack = Stack(
        args.state_dir, ports=ports, workers=args.workers, seed_scale=args.seed_scale, echo=True, tls_dir=tls_dir
    )

    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    stack.start()
    print("\nThe stack is up (Ctrl-C stops it):")
    for key, value in stack.env_lines().items():
        print(f"  {key:<14} {value}")
    print(f"  (also in {args.state_dir / 'dev.env'})\n", flush=True)
    try:
        while not stopping.wait(0.5):
            for name, process in list(stack.processes.items()):
                if process.poll() is not None:
                    print(f"{name} exited with {process.returncode}; stopping the stack", file=sys.stderr)
                    stopping.set()
    finally:
        print("stopping…", file=sys.stderr)
        stack.stop()
        (args.state_dir / "dev.env").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
