"""The counter's own metrics. Each worker process records its own; the supervisor serves them all
merged (stack_common.metrics_server). Per-process gauges keep one series per live process (a `pid`
label), so their sum is the service's and their spread shows processes that disagree.

A worker keeps its numbers in memory (WorkerMetrics) and stack_common.metrics_flush.FLUSHER writes
them to the multiprocess files at most FLUSH_SECONDS after they change, as the api's and legacy's do: a
file write is a lock, a getpid system call and an mmap store, and a burst of connects would
otherwise write on every connect, disconnect and broadcast. A stopping worker writes its last
numbers (run_worker flushes): a forked worker runs no atexit handler.
"""

import time

from prometheus_client import Counter, Gauge, Histogram
from stack_common.metrics_flush import FLUSHER, ChangedGauges, LocalHistogram

PER_PROCESS = "liveall"
# One write per socket, 20-50 µs each: from a few sockets to thousands per process.
BROADCAST_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
# A change waits for the pause after the previous broadcast (server.BROADCAST_COST_FACTOR): a loop
# iteration or two on a quiet server, up to twice a broadcast's duration in a burst of changes.
DELAY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# The presence heartbeat: one statement per process per HEARTBEAT_SECONDS (counter/presence.py).
HEARTBEAT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

SOCKETS = Gauge("counter_sockets", "Websockets this process holds open", multiprocess_mode=PER_PROCESS)
USERS_SHOWN = Gauge(
    "counter_users_shown", "The deployment-wide count this process last sent", multiprocess_mode=PER_PROCESS
)
BROADCASTS = Counter("counter_broadcasts_total", "Counts sent to this process's sockets, one per broadcast")
BROADCAST_DURATION = Histogram(
    "counter_broadcast_duration_seconds",
    "Time one broadcast took to hand the count to every socket",
    buckets=BROADCAST_BUCKETS,
)
BROADCAST_DELAY = Histogram(
    "counter_broadcast_delay_seconds",
    "Time from the first change a broadcast carries until it starts",
    buckets=DELAY_BUCKETS,
)
HEARTBEAT_DURATION = Histogram(
    "counter_heartbeat_duration_seconds",
    "Round trip of a successful presence heartbeat (renew own row, purge stale ones, read the others)",
    buckets=HEARTBEAT_BUCKETS,
)
HEARTBEAT_FAILURES = Counter("counter_heartbeat_failures_total", "Presence heartbeats that failed")
LAST_HEARTBEAT = Gauge(
    "counter_heartbeat_last_success_timestamp_seconds",
    "When this process's presence row was last renewed (Unix time)",
    multiprocess_mode=PER_PROCESS,
)


class WorkerMetrics:
    """What one worker process records, kept until FLUSHER writes it: the gauges' latest values, the
    counters' increments, the histograms' observations (LocalHistogram). Created in the worker, with
    metrics on; its gauges' series exist from the worker's start, not from its first client."""

    def __init__(self) -> None:
        self.sockets = 0
        self.users_shown = 0
        self.last_heartbeat: float | None = None  # Unix time of the last successful heartbeat
        self.broadcasts = 0  # since the last write
        self.heartbeat_failures = 0  # since the last write
        self.broadcast_duration = LocalHistogram(BROADCAST_DURATION, BROADCAST_BUCKETS)
        self.broadcast_delay = LocalHistogram(BROADCAST_DELAY, DELAY_BUCKETS)
        self.heartbeat_duration = LocalHistogram(HEARTBEAT_DURATION, HEARTBEAT_BUCKETS)
        SOCKETS.set(0)
        USERS_SHOWN.set(0)
        self._gauges = ChangedGauges((SOCKETS, USERS_SHOWN, LAST_HEARTBEAT), written=(0, 0, None))
        FLUSHER.add_writer(self._write)

    def sockets_changed(self, sockets: int) -> None:
        self.sockets = sockets
        FLUSHER.recorded()

    def broadcast(self, duration: float, delay: float, users_shown: int) -> None:
        self.broadcasts += 1
        self.broadcast_duration.observe(duration)
        self.broadcast_delay.observe(delay)
        self.users_shown = users_shown
        FLUSHER.recorded()

    def heartbeat(self, duration: float) -> None:
        self.heartbeat_duration.observe(duration)
        self.last_heartbeat = time.time()
        FLUSHER.recorded()

    def heartbeat_failed(self) -> None:
        self.heartbeat_failures += 1
        FLUSHER.recorded()

    def _write(self) -> None:
        """The counters' increments and the gauges that changed (the histograms write themselves)."""
        if self.broadcasts:
            BROADCASTS.inc(self.broadcasts)
            self.broadcasts = 0
        if self.heartbeat_failures:
            HEARTBEAT_FAILURES.inc(self.heartbeat_failures)
            self.heartbeat_failures = 0
        self._gauges.write(self.sockets, self.users_shown, self.last_heartbeat)
