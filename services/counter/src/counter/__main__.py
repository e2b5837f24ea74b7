"""`python -m counter`: start `workers` processes that share one port, and supervise them."""

import asyncio
import logging.config
import multiprocessing
import signal
import sys

import uvloop

from counter.logs import LOGCONFIG
from counter.server import run_worker
from counter.settings import Settings

log = logging.getLogger("counter")


def worker(settings: Settings) -> None:
    logging.config.dictConfig(LOGCONFIG)
    uvloop.run(run_worker(settings))


def main() -> int:
    logging.config.dictConfig(LOGCONFIG)
    settings = Settings()
    # fork, not spawn: workers inherit the parsed settings; nothing asyncio exists yet to inherit.
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=worker, args=(settings,), name=f"counter-{i}") for i in range(settings.workers)]
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: the worker closes its sockets gracefully

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for process in processes:
        process.start()
    log.info("serving on %s:%s with %d worker processes", settings.host, settings.port, settings.workers)

    # Supervise: a worker that dies is replaced (its presence row goes stale and stops counting).
    while not stopping:
        for i, process in enumerate(processes):
            process.join(timeout=0.5 / len(processes))
            if not process.is_alive() and not stopping:
                log.error("worker %s exited with %s; starting a new one", process.name, process.exitcode)
                processes[i] = context.Process(target=worker, args=(settings,), name=process.name)
                processes[i].start()
    for process in processes:
        process.join(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
