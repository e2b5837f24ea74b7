"""The Prometheus metrics the services share: HTTP requests, the connection pool, batched reads.

Recorded by the worker processes only, in prometheus_client's multiprocess mode: each process writes
its numbers to files under PROMETHEUS_MULTIPROC_DIR, and the parent process serves them merged
(stack_common.metrics_server), so each worker is counted once however the scrape lands. Import this
module in workers, never in the parent: unlabelled metrics create their files at import.

Nothing here is used when a service's METRICS_PORT is 0 (metrics off).
"""

import time
from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram

# Seconds. A request here takes from a fraction of a millisecond (a batched /brands) to the database
# timeouts (3 s to acquire, 5 s per query): fine steps at the fast end, coarse ones up to 10 s.
HTTP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Requests answered by one database round trip (stack_common.fresh_reads): powers of two up to the
# most concurrent requests a worker sees (make bench: 200 connections over two workers).
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
# Label values are bounded: a method outside this set is counted as "other", an unmatched path as
# UNMATCHED, never the raw path (each new label value is a new time series).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"

REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from a request's arrival at the application to its response, by route template and method",
    ["route", "method"],
    buckets=HTTP_BUCKETS,
)
# Gauges of live processes only (a worker that exits is marked dead), summed over them.
LIVE_SUM = "livesum"
IN_FLIGHT = Gauge("http_requests_in_flight", "Requests being handled now", multiprocess_mode=LIVE_SUM)

POOL_SIZE = Gauge("db_pool_connections", "Connections the pool holds open", multiprocess_mode=LIVE_SUM)
POOL_MAX = Gauge("db_pool_max_connections", "Connections the pool may open", multiprocess_mode=LIVE_SUM)
POOL_IN_USE = Gauge("db_pool_in_use", "Pooled connections handed out now", multiprocess_mode=LIVE_SUM)
POOL_WAITERS = Gauge("db_pool_waiters", "Callers waiting for a connection now", multiprocess_mode=LIVE_SUM)
BATCH_SIZE = Histogram(
    "db_batch_size", "Requests answered by one round trip of a shared read", ["read"], buckets=BATCH_BUCKETS
)


class HttpMetrics:
    """What the services' request middleware records: one call per request, after its response.

    The labelled children are kept, so a request costs one counter increment, one histogram
    observation and the in-flight gauge, not a label lookup as well.
    """

    def __init__(self) -> None:
        self._counted: dict[tuple[str, str, int], Callable[[], None]] = {}
        self._timed: dict[tuple[str, str], Callable[[float], None]] = {}

    def started(self) -> float:
        IN_FLIGHT.inc()
        return time.perf_counter()

    def finished(self, started: float, route: str, method: str, status: int) -> None:
        seconds = time.perf_counter() - started
        IN_FLIGHT.dec()
        if method not in METHODS:
            method = "other"
        try:
            self._counted[route, method, status]()
        except KeyError:
            child = REQUESTS.labels(route, method, str(status))
            self._counted[route, method, status] = child.inc
            child.inc()
        try:
            self._timed[route, method](seconds)
        except KeyError:
            observe = REQUEST_DURATION.labels(route, method).observe
            self._timed[route, method] = observe
            observe(seconds)


class PoolMetrics:
    """The connection pool's gauges (stack_common.database.FairPool updates them)."""

    def __init__(self, max_size: int) -> None:
        POOL_MAX.set(max_size)
        self.size = POOL_SIZE
        self.in_use = POOL_IN_USE
        self.waiters = POOL_WAITERS


def batch_size_observer(read: str) -> Callable[[int], None]:
    """Records how many requests each round trip of the named shared read answered."""
    return BATCH_SIZE.labels(read).observe
