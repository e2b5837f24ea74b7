"""What a worker process records, kept in memory and written to prometheus_client's metric files at
most FLUSH_SECONDS later (FLUSHER), the histogram series that counts its observations so
(LocalHistogram), and the gauges a flush writes when their values changed (ChangedGauges). Every
service's workers use it: stack_common.metrics for the requests, the pool and the batched reads,
counter.metrics for the counter's own.

A write to a multiprocess file costs a lock, a getpid system call and an mmap store, a histogram
observation two of them: most of what the metrics cost a request when every request wrote. This
module defines no metric: prometheus_client gives each metric object a file entry in the process
that created it, and again in a forked worker as soon as that writes any metric, so a service whose
workers imported metrics they never record would serve them (at 0) beside its own.
"""

import asyncio
import atexit
import math
from bisect import bisect_left
from collections.abc import Callable, Sequence
from time import perf_counter

from prometheus_client import Gauge, Histogram

# How far behind the files (and so a scrape) may be.
FLUSH_SECONDS = 1.0


class Flusher:
    """Writes this process's pending numbers to the metric files: FLUSH_SECONDS after the first one
    recorded since the last flush (a timer on the running event loop), when flush() is called, and
    at interpreter exit (atexit; uvicorn ends a worker it stopped by raising the signal again, so
    the api flushes at the end of its lifespan, and a forked counter worker runs no atexit handler,
    so it flushes when it stops).

    Whatever records calls recorded(), or checks `now >= FLUSHER.deadline` (time.perf_counter())
    itself and then calls arm(now): a float comparison while a flush is already on its way. A timer
    that is overdue (its event loop stopped, or too busy to run it) is replaced by a flush at once.
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


class ChangedGauges:
    """Gauges whose values a flush writes, each only when it differs from the value last written
    (`written` at first): a write is what counting in memory saves. A value of None is not known yet
    and leaves its gauge as it is."""

    __slots__ = ("_gauges", "_written")

    def __init__(self, gauges: Sequence[Gauge], written: Sequence[float | None]) -> None:
        self._gauges = tuple(gauges)
        self._written = list(written)

    def write(self, *values: float | None) -> None:
        for index, (gauge, value) in enumerate(zip(self._gauges, values)):
            if value is not None and value != self._written[index]:
                gauge.set(value)
                self._written[index] = value
