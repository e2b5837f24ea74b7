"""The Prometheus metrics the services share: HTTP requests, the connection pool, batched reads.

Recorded by the worker processes only, in prometheus_client's multiprocess mode: each process writes
its numbers to files under PROMETHEUS_MULTIPROC_DIR, and the parent process serves them merged
(stack_common.metrics_server), so each worker is counted once however the scrape lands. Import this
module in workers, not in the parent: unlabelled metrics create their files at import.

A write to such a file costs a lock, a getpid system call and an mmap store, a histogram observation
two of them: most of what the metrics cost a request when every request wrote. So a process keeps its
numbers in plain Python (a request adds 1 to a bucket) and writes them out at most FLUSH_SECONDS
after recording them, from its event loop (FLUSHER): a scrape is at most that far behind. A worker
that stops writes its last numbers when its application shuts down (each service calls
FLUSHER.flush() then) and at interpreter exit. The counter's own metrics (counter.metrics) are kept
and written the same way. Nothing here is used when a service's METRICS_PORT is 0 (metrics off).
"""

import asyncio
import atexit
import math
from bisect import bisect_left
from collections.abc import Callable, Sequence
from time import perf_counter
from typing import TYPE_CHECKING

from prometheus_client import Gauge, Histogram

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
# How far behind the files (and so a scrape) may be.
FLUSH_SECONDS = 1.0

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


class Flusher:
    """Writes this process's pending numbers to the metric files: FLUSH_SECONDS after the first one
    recorded since the last flush (a timer on the running event loop), when flush() is called, and
    at interpreter exit (atexit; uvicorn ends a worker it stopped by raising the signal again, so
    the api flushes at the end of its lifespan, and a forked counter worker runs no atexit handler,
    so it flushes when it stops).

    Whatever records calls recorded(), or checks `now >= FLUSHER.deadline` (time.perf_counter())
    itself and then calls arm(now): a float comparison while a flush is already on its way. A timer that is overdue (its event loop
    stopped, or too busy to run it) is replaced by a flush at once.
    """

    def __init__(self) -> None:
        self._series: list[LocalHistogram] = []
        self._writers: list[Callable[[], None]] = []
        self.deadline = -math.inf  # when the pending timer should have flushed
        self._timer: asyncio.TimerHandle | None = None
        atexit.register(self.flush)

    def add_series(self, series: "LocalHistogram") -> None:
        self._series.append(series)

    def add_writer(self, write: Callable[[], None]) -> None:
        """`write()` writes what changed since it last ran: gauges set to their new values, counts
        added to counters."""
        self._writers.append(write)

    def recorded(self) -> None:
        """Something was recorded: a flush follows within FLUSH_SECONDS. (The request path, which
        reads the clock anyway, checks the deadline itself.)"""
        if (now := perf_counter()) >= self.deadline:
            self.arm(now)

    def arm(self, now: float) -> None:
        """Something was recorded at `now`, past the deadline: a flush follows within FLUSH_SECONDS."""
        if self._timer is not None:  # overdue
            self.flush()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # recorded outside an event loop: no timer to wait for
            self.flush()
            return
        self.deadline = now + FLUSH_SECONDS
        self._timer = loop.call_later(FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        if self._timer is not None:  # run by it, or before it: either way it is no longer needed
            self._timer.cancel()
            self._timer = None
        self.deadline = -math.inf
        for series in self._series:
            series.write()
        for write in self._writers:
            write()


FLUSHER = Flusher()


class LocalHistogram:
    """One series of a histogram (a labelled child, or an unlabelled histogram itself), its
    observations counted in this process until the flusher writes them to the child.

    prometheus_client has no call that adds many observations at once (its maintainers declined
    one), so write() adds to the child's bucket and sum values itself: `_buckets` (one value per
    bucket, not cumulative) and `_sum`. Those are its internals: the version is pinned
    (services/common/pyproject.toml) and services/common/tests/test_metrics_flush.py fails if they
    change.
    """

    __slots__ = ("_child", "bounds", "counts", "sum")

    def __init__(self, child: Histogram, buckets: Sequence[float]) -> None:
        self._child = child
        self.bounds = (*buckets, math.inf)
        self.counts = [0] * len(self.bounds)
        self.sum = 0.0
        FLUSHER.add_series(self)

    def observe(self, value: float) -> None:
        # The first bucket whose upper bound is >= value, as Histogram.observe picks it.
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def write(self) -> None:
        """Adds what was observed since the last write to the child."""
        counts, total = self.counts, self.sum
        if not any(counts):
            return
        self.counts, self.sum = [0] * len(counts), 0.0
        for bucket, count in zip(self._child._buckets, counts):
            if count:
                bucket.inc(count)
        self._child._sum.inc(total)


class HttpMetrics:
    """What a service's request middleware records: started() when a request arrives, finished()
    once it is answered. Each (route, method, status) keeps its LocalHistogram, so a request costs a
    dict lookup, a bisect and two additions; the in-flight gauge is written by the flush. (Measured
    in-process: under a microsecond per request, against 3-4 with a file write per observation.)"""

    def __init__(self) -> None:
        self.in_flight = 0
        self._published_in_flight = 0
        self._series: dict[tuple[str, str, int], LocalHistogram] = {}
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
        if self.in_flight != self._published_in_flight:
            IN_FLIGHT.set(self.in_flight)
            self._published_in_flight = self.in_flight


class PoolMetrics:
    """The connection pool's gauges: read from the pool (stack_common.database.FairPool, which
    counts its connections in use and its waiting callers) at each flush, written when changed."""

    def __init__(self, max_size: int) -> None:
        POOL_MAX.set(max_size)
        self._pool: FairPool | None = None
        self._published: tuple[int, int, int] = (0, 0, 0)
        FLUSHER.add_writer(self._publish)

    def watch(self, pool: "FairPool") -> None:
        self._pool = pool

    def _publish(self) -> None:
        if self._pool is None:
            return
        now = (self._pool.size, self._pool.in_use, self._pool.waiting)
        for gauge, value, published in zip((POOL_SIZE, POOL_IN_USE, POOL_WAITERS), now, self._published):
            if value != published:
                gauge.set(value)
        self._published = now


def batch_size_observer(read: str) -> Callable[[int], None]:
    """Records how many requests each round trip of the named shared read answered."""
    series = LocalHistogram(BATCH_SIZE.labels(read), BATCH_BUCKETS)

    def observe(size: int) -> None:
        series.observe(size)
        FLUSHER.recorded()

    return observe
