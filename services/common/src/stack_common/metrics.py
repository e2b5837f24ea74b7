"""The Prometheus metrics the services share: HTTP requests, the connection pool, batched reads.

Recorded by the worker processes only, in prometheus_client's multiprocess mode: each process writes
its numbers to files under PROMETHEUS_MULTIPROC_DIR, and the parent process serves them merged
(stack_common.metrics_server), so each worker is counted once however the scrape lands. Import this
module in workers, not in the parent: unlabelled metrics create their files at import. The counter
does not import it (it has none of these): see stack_common.metrics_flush.

A process keeps its numbers in plain Python (a request adds 1 to a bucket) and writes them out at
most FLUSH_SECONDS after recording them, from its event loop (stack_common.metrics_flush.FLUSHER):
a scrape is at most that far behind. A worker that stops writes its last numbers when its
application shuts down (each service calls FLUSHER.flush() then) and at interpreter exit. Nothing
here is used when a service's METRICS_PORT is 0 (metrics off).
"""

from bisect import bisect_left
from collections.abc import Callable
from time import perf_counter
from typing import TYPE_CHECKING

from prometheus_client import Gauge, Histogram

from stack_common.metrics_flush import FLUSHER, ChangedGauges, LocalHistogram

if TYPE_CHECKING:
    from stack_common.database import FairPool

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
# and status, so a request is one observation, not a counter increment as well.
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

POOL_SIZE = Gauge("db_pool_connections", "Connections the pool holds open", multiprocess_mode=LIVE_SUM)
POOL_MAX = Gauge("db_pool_max_connections", "Connections the pool may open", multiprocess_mode=LIVE_SUM)
POOL_IN_USE = Gauge("db_pool_in_use", "Pooled connections handed out now", multiprocess_mode=LIVE_SUM)
POOL_WAITERS = Gauge("db_pool_waiters", "Callers waiting for a connection now", multiprocess_mode=LIVE_SUM)
BATCH_SIZE = Histogram(
    "db_batch_size", "Requests answered by one round trip of a shared read", ["read"], buckets=BATCH_BUCKETS
)


class HttpMetrics:
    """What a service's request middleware records: started() when a request arrives, finished()
    once it is answered. Each (route, method, status) keeps its LocalHistogram, so a request costs a
    dict lookup, a bisect and two additions; the in-flight gauge is written by the flush. (Measured
    in-process: under a microsecond per request, against 3-4 with a file write per observation.)"""

    def __init__(self) -> None:
        self.in_flight = 0
        self._series: dict[tuple[str, str, int], LocalHistogram] = {}
        self._in_flight_gauge = ChangedGauges((IN_FLIGHT,), written=(0,))
        FLUSHER.add_writer(self._publish_in_flight)

    def started(self) -> float:
        self.in_flight += 1
        now = perf_counter()
        if now >= FLUSHER.deadline:  # the in-flight gauge changed: a flush must follow
            FLUSHER.arm(now)
        return now

    def finished(self, started: float, route: str, method: str, status: int) -> None:
        now = perf_counter()
        self.in_flight -= 1
        if method not in METHODS:
            method = "other"
        series = self._series.get((route, method, status))
        if series is None:
            series = self._series[(route, method, status)] = LocalHistogram(
                REQUESTS.labels(route, method, str(status)), HTTP_BUCKETS
            )
        # series.observe(now - started), inlined: this runs on every request.
        duration = now - started
        series.counts[bisect_left(series.bounds, duration)] += 1
        series.sum += duration
        if now >= FLUSHER.deadline:
            FLUSHER.arm(now)

    def _publish_in_flight(self) -> None:
        self._in_flight_gauge.write(self.in_flight)


class PoolMetrics:
    """The connection pool's gauges: read from the pool (stack_common.database.FairPool, which
    counts its connections in use and its waiting callers) at each flush, written when changed."""

    def __init__(self, max_size: int) -> None:
        POOL_MAX.set(max_size)
        self._pool: FairPool | None = None
        self._gauges = ChangedGauges((POOL_SIZE, POOL_IN_USE, POOL_WAITERS), written=(0, 0, 0))
        FLUSHER.add_writer(self._publish)

    def watch(self, pool: "FairPool") -> None:
        self._pool = pool

    def _publish(self) -> None:
        if self._pool is not None:
            self._gauges.write(self._pool.size, self._pool.in_use, self._pool.waiting)


def batch_size_observer(read: str) -> Callable[[int], None]:
    """Records how many requests each round trip of the named shared read answered."""
    series = LocalHistogram(BATCH_SIZE.labels(read), BATCH_BUCKETS)

    def observe(size: int) -> None:
        series.observe(size)
        FLUSHER.recorded()

    return observe
