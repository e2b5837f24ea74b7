"""The counter's own metrics. Each worker process records its own; the supervisor serves them all
merged (stack_common.metrics). Per-process gauges keep one series per live process (a `pid` label),
so their sum is the service's and their spread shows processes that disagree."""

from prometheus_client import Counter, Gauge, Histogram

PER_PROCESS = "liveall"

SOCKETS = Gauge("counter_sockets", "Websockets this process holds open", multiprocess_mode=PER_PROCESS)
USERS_SHOWN = Gauge(
    "counter_users_shown", "The deployment-wide count this process last sent", multiprocess_mode=PER_PROCESS
)
BROADCASTS = Counter("counter_broadcasts_total", "Counts sent to this process's sockets, one per broadcast")
# One write per socket, 20-50 µs each: from a few sockets to thousands per process.
BROADCAST_DURATION = Histogram(
    "counter_broadcast_duration_seconds",
    "Time one broadcast took to hand the count to every socket",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
# A change waits for the pause after the previous broadcast (server.BROADCAST_COST_FACTOR): a loop
# iteration or two on a quiet server, up to twice a broadcast's duration in a burst of changes.
BROADCAST_DELAY = Histogram(
    "counter_broadcast_delay_seconds",
    "Time from the first change a broadcast carries until it starts",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
# The presence heartbeat: one statement per process per HEARTBEAT_SECONDS (counter/presence.py).
HEARTBEAT_DURATION = Histogram(
    "counter_heartbeat_duration_seconds",
    "Round trip of a successful presence heartbeat (renew own row, purge stale ones, read the others)",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
HEARTBEAT_FAILURES = Counter("counter_heartbeat_failures_total", "Presence heartbeats that failed")
LAST_HEARTBEAT = Gauge(
    "counter_heartbeat_last_success_timestamp_seconds",
    "When this process's presence row was last renewed (Unix time)",
    multiprocess_mode=PER_PROCESS,
)
