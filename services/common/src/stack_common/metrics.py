"""The Prometheus metrics the services share: HTTP requests, the connection pool, batched reads.

Recorded by the worker processes only, in prometheus_client's multiprocess mode: each process writes
its numbers to files under PROMETHEUS_MULTIPROC_DIR, and the parent process serves them merged
(stack_common.metrics_server), so each worker is counted once however the scrape lands. Import this
module in workers, not in the parent: unlabelled metrics create their files at import.

Every update of a metric is a write to such a file (about a microsecond), so the request path makes
as few as it can: one histogram observation per request. Nothing here is used when a service's
METRICS_PORT is 0 (metrics off).
"""

import time
from collections.abc import Callable

from prometheus_client import Gauge, Histogram

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

# One histogram for requests and their latency: its _count is the request counter by route, method
# and status, so a request costs one observation (two file writes), not a counter increment as well.
REQUESTS = Histogram(
    "http_request_duration_seconds",
    "Requests answered (_count) and the time from their arrival at the application to their response,"
    " by route template, method and status",
    ["route", "method", "status"],
    buckets=HTTP_BUCKETS,
)
# Gauges over the live processes only (a worker that exits is marked dead), summed.
LIVE_SUM = "livesum"
IN_FLIGHT = Gauge("http_requests_in_flight", "Requests being handled", multiprocess_mode=LIVE_SUM)
# A busy worker refreshes the in-flight gauge at most this often, and once more when it goes idle:
# every write costs as much as half an observation.
IN_FLIGHT_REFRESH_SECONDS = 1.0

POOL_SIZE = Gauge("db_pool_connections", "Connections the pool holds open", multiprocess_mode=LIVE_SUM)
POOL_MAX = Gauge("db_pool_max_connections", "Connections the pool may open", multiprocess_mode=LIVE_SUM)
POOL_IN_USE = Gauge("db_pool_in_use", "Pooled connections handed out now", multiprocess_mode=LIVE_SUM)
POOL_WAITERS = Gauge("db_pool_waiters", "Callers waiting for a connection now", multiprocess_mode=LIVE_SUM)
BATCH_SIZE = Histogram(
    "db_batch_size", "Requests answered by one round trip of a shared read", ["read"], buckets=BATCH_BUCKETS
)


class HttpMetrics:
    """What a service's request middleware records: started() when a request arrives, finished()
    once it is answered. The labelled histogram children are kept, so no request pays a lookup."""

    def __init__(self) -> None:
        self.in_flight = 0
        self._published_in_flight = 0
        self._published_at = 0.0
        self._observe: dict[tuple[str, str, int], Callable[[float], None]] = {}

    def started(self) -> float:
        self.in_flight += 1
        now = time.perf_counter()
        if now - self._published_at >= IN_FLIGHT_REFRESH_SECONDS:
            self._publish_in_flight(now)
        return now

    def finished(self, started: float, route: str, method: str, status: int) -> None:
        now = time.perf_counter()
        self.in_flight -= 1
        if now - self._published_at >= IN_FLIGHT_REFRESH_SECONDS or (
            self.in_flight == 0 and self._published_in_flight != 0
        ):
            self._publish_in_flight(now)
        if method not in METHODS:
            method = "other"
        key = (route, method, status)
        observe = self._observe.get(key)
        if observe is None:
            observe = self._observe[key] = REQUESTS.labels(route, method, str(status)).observe
        observe(now - started)

    def _publish_in_flight(self, now: float) -> None:
        IN_FLIGHT.set(self.in_flight)
        self._published_in_flight = self.in_flight
        self._published_at = now


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
