"""`python -m counter`: start `workers` processes that share one port, and supervise them."""

import logging.config
import multiprocessing
import resource
import signal
import sys
import time
from collections.abc import Awaitable, Callable

import uvloop
from stack_common.drain import drain
from stack_common.metrics_server import MetricsServer, mark_worker_dead, prepare_multiprocess_dir

from counter.logs import LOGCONFIG
from counter.settings import Settings

log = logging.getLogger("counter")
# A worker that keeps dying is restarted no faster than this, so a broken database URL does not
# turn into a busy loop of forks.
RESTART_BACKOFF_SECONDS = 1.0
# How long workers get to close their sockets and leave before they are killed.
SHUTDOWN_GRACE_SECONDS = 10.0


def raise_open_files_limit() -> None:
    """Every socket is a file descriptor; the soft limit is often 1024, the hard one far higher."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def worker(
    settings: Settings,
    run_worker: Callable[[Settings], Awaitable[None]],
    metrics_server: MetricsServer | None,
) -> None:
    # Forked children inherit the supervisor's Python signal handlers; the worker installs its own
    # on its event loop, and until then the default (exit) is the right answer to SIGTERM.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if metrics_server is not None:
        metrics_server.close_in_child()
    logging.config.dictConfig(LOGCONFIG)
    uvloop.run(run_worker(settings))


def main() -> int:
    logging.config.dictConfig(LOGCONFIG)
    raise_open_files_limit()
    settings = Settings()
    # The server is imported here, before the fork, so each worker starts serving at once. Its
    # metrics create files for this process too (at import, in PROMETHEUS_MULTIPROC_DIR): the
    # directory is emptied after it, since the supervisor records nothing and must not count as a
    # process. Then every worker's metrics, merged, are served from here on METRICS_PORT.
    prepare_multiprocess_dir(settings.metrics_on)
    from counter.server import run_worker

    prepare_multiprocess_dir(settings.metrics_on)
    metrics_server = MetricsServer(settings.host, settings.metrics_port) if settings.metrics_on else None
    # fork, not spawn: workers inherit the parsed settings; nothing asyncio exists yet to inherit.
    context = multiprocessing.get_context("fork")

    def new_worker(i: int) -> multiprocessing.Process:
        process = context.Process(
            target=worker, args=(settings, run_worker, metrics_server), name=f"counter-{i}"
        )
        process.start()
        return process

    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    processes = [new_worker(i) for i in range(settings.workers)]
    log.info("serving on %s:%s with %d worker processes", settings.host, settings.port, settings.workers)

    # Supervise: a worker that dies is replaced (its presence row goes stale and stops counting).
    while not stopping:
        for i, process in enumerate(processes):
            process.join(timeout=0.5 / len(processes))
            if not process.is_alive() and not stopping:
                log.error("worker %s exited with %s; starting a new one", process.name, process.exitcode)
                mark_worker_dead(process.pid)
                time.sleep(RESTART_BACKOFF_SECONDS)
                processes[i] = new_worker(i)

    # SIGTERM: the workers keep their sockets and take new ones for DRAIN_SECONDS (0 by default; the
    # swarm's stack sets it), so clients told to reconnect are no longer sent back to this task.
    drain(settings.drain_seconds)
    for process in processes:
        if process.is_alive():
            process.terminate()  # SIGTERM: the worker closes its sockets with 1001 and leaves
    deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
    for process in processes:
        process.join(timeout=max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            log.error("worker %s did not stop in time; killing it", process.name)
            process.kill()
            process.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
