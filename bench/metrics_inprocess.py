"""What the api's request metrics cost a request in-process: CPU per request of the real application
(api.main.create_app) with metrics on against off, no network and no database.

Each request is `GET /api/brands` as nginx forwards it (an X-Request-ID, an X-Real-IP), answered
by api.point_reads from a brand list that is already encoded, so what differs between the variants
is the middleware and the recording. The variants run in interleaved chunks (A B A B …) on one
uvloop, and the medians of their CPU time per request are compared: warm caches, so the numbers are
smaller than under load, but steady enough to see a fraction of a microsecond.

    .venv/bin/python -m bench.metrics_inprocess            # 60 chunks of 2,000 requests per variant
    .venv/bin/python -m bench.metrics_inprocess --chunks 10 --requests 500 --no-request-id
"""

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable

import uvloop

BRANDS_JSON = b'[{"brand_id":1,"brand_name":"Acme"}]'


class ReadyBrands:
    """Stands in for app.state.brands_json (a FreshReads): the list, already read and encoded."""

    async def get(self) -> bytes:
        return BRANDS_JSON


def request_driver(metrics_on: bool, request_id: bool) -> Callable[[int], Awaitable[None]]:
    """An api application built with metrics on or off, and a coroutine that sends it `n` requests."""
    from api.main import create_app
    from api.settings import Settings

    app = create_app(Settings(metrics_port=9100 if metrics_on else 0, write_tokens_file=None))
    app.state.brands_json = ReadyBrands()
    headers = [(b"host", b"127.0.0.1"), (b"x-real-ip", b"10.0.0.9")]
    if request_id:
        headers.append((b"x-request-id", b"4bf92f3577b34da6a3ce929d0e0e4736"))

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        pass

    async def requests(n: int) -> None:
        for _ in range(n):
            scope = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "GET",
                "scheme": "http",
                "root_path": "/api",
                "path": "/api/brands",
                "raw_path": b"/api/brands",
                "query_string": b"",
                "headers": headers,
                "client": ("127.0.0.1", 40000),
                "server": ("127.0.0.1", 8000),
            }
            await app(scope, receive, send)

    return requests


async def measure(chunks: int, per_chunk: int, request_id: bool) -> dict[str, list[float]]:
    drivers = {"off": request_driver(False, request_id), "on": request_driver(True, request_id)}
    for run in drivers.values():  # warm up: the middleware stack is built on the first request
        await run(per_chunk)
    per_request: dict[str, list[float]] = {name: [] for name in drivers}
    for _ in range(chunks):
        for name, run in drivers.items():
            started = time.process_time()
            await run(per_chunk)
            per_request[name].append((time.process_time() - started) / per_chunk * 1e6)
    return per_request


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chunks", type=int, default=60, help="chunks per variant")
    parser.add_argument("--requests", type=int, default=2000, help="requests per chunk")
    parser.add_argument(
        "--no-request-id", action="store_true", help="requests without an X-Request-ID (not through nginx)"
    )
    args = parser.parse_args()
    # The workers' mode: prometheus_client writes to files in this directory at each flush.
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="metrics-inprocess-"))
    per_request = uvloop.run(measure(args.chunks, args.requests, not args.no_request_id))
    off, on = (statistics.median(per_request[name]) for name in ("off", "on"))
    print(f"µs of CPU per request (median of {args.chunks} chunks of {args.requests}):")
    print(f"  metrics off {off:7.2f}\n  metrics on  {on:7.2f}\n  on - off    {on - off:7.2f}")
    print(f"requests counted with metrics on: {counted_requests():.0f}")


def counted_requests() -> float:
    """What the metrics-on application recorded, as its worker's files say once flushed: every
    request of its warm-up and chunks if the variant measured what it claims."""
    from prometheus_client import CollectorRegistry, multiprocess
    from stack_common.metrics_flush import FLUSHER

    FLUSHER.flush()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return sum(
        sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name == "http_request_duration_seconds_count"
    )


if __name__ == "__main__":
    main()
