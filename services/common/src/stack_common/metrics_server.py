"""The parent process's side of the metrics (stack_common.metrics): the multiprocess directory, the
server that exposes every worker's numbers merged on a port of their own, and dead workers.

gunicorn's master (GunicornHooks, assigned in each gunicorn_conf.py) and the counter's supervisor use
it. The directory is emptied before the first worker starts, since files of an earlier run would be
counted again; a worker that exits is marked dead, so its live gauges (in flight, pool in use) stop
counting. This module creates no metric of its own, so the parent writes no files.
"""

import os
import shutil
import threading
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, multiprocess, start_http_server


def multiprocess_dir() -> Path | None:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(path) if path else None


def prepare_multiprocess_dir(metrics_on: bool) -> None:
    """Before any worker starts: the directory exists (workers write to it as soon as they import a
    metric, even with metrics off) and is empty (files of an earlier run would be counted again)."""
    directory = multiprocess_dir()
    if directory is None:
        if metrics_on:
            raise RuntimeError("metrics are on (METRICS_PORT) but PROMETHEUS_MULTIPROC_DIR is not set")
        return
    directory.mkdir(parents=True, exist_ok=True)
    for entry in directory.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


class MetricsServer:
    """Every worker's metrics, merged, over HTTP on `host:port` (any path), from a daemon thread of
    the parent process."""

    def __init__(self, host: str, port: int) -> None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(multiprocess_dir()))
        self._server: WSGIServer
        self._thread: threading.Thread
        self._server, self._thread = start_http_server(port, addr=host, registry=registry)

    def close_in_child(self) -> None:
        """In a forked worker: let go of the inherited listening socket, which only the parent serves."""
        self._server.socket.close()


def mark_worker_dead(pid: int) -> None:
    if (directory := multiprocess_dir()) is not None:
        multiprocess.mark_process_dead(pid, path=str(directory))


class GunicornHooks:
    """gunicorn's server hooks (each gunicorn_conf.py assigns them): the directory prepared before
    the first fork; with metrics on, every worker's merged metrics served from the master, which
    lets go of them again in each forked worker; each exited worker marked dead."""

    def __init__(self, metrics_on: bool, host: str, port: int) -> None:
        self._metrics_on = metrics_on
        self._host = host
        self._port = port
        self._server: MetricsServer | None = None

    def on_starting(self, arbiter: object) -> None:
        prepare_multiprocess_dir(self._metrics_on)

    def when_ready(self, arbiter: object) -> None:
        if self._metrics_on:
            self._server = MetricsServer(self._host, self._port)

    def post_fork(self, arbiter: object, worker: object) -> None:
        if self._server is not None:
            self._server.close_in_child()

    def child_exit(self, arbiter: object, worker: object) -> None:
        mark_worker_dead(worker.pid)  # type: ignore[attr-defined]
