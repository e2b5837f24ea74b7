"""The counter's metrics in process (counter.metrics through the real Counter and Presence, no
database, prometheus_client's default in-memory mode): nothing is written on a connect, a
disconnect, a broadcast or a heartbeat, and all of it is written within a flush interval."""

import asyncio
import time
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY
from stack_common import metrics_flush
from stack_common.metrics_flush import FLUSHER
from websockets.protocol import State

from counter.server import Counter
from counter.settings import Settings


class ClosingSocket:
    """A client in `Counter.clients` that broadcasts skip (not open): only its number counts here."""

    class protocol:  # the attribute send_to_all reads
        state = State.CLOSING


def value(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


WRITTEN = [
    "counter_sockets",
    "counter_users_shown",
    "counter_broadcasts_total",
    "counter_broadcast_duration_seconds_count",
    "counter_broadcast_delay_seconds_count",
    "counter_heartbeat_duration_seconds_count",
    "counter_heartbeat_failures_total",
    "counter_heartbeat_last_success_timestamp_seconds",
]


@pytest.fixture(autouse=True)
def no_pending_flush() -> Iterator[None]:
    FLUSHER.flush()
    yield
    FLUSHER.flush()


def test_updates_are_not_written_one_by_one_but_within_a_flush_interval(monkeypatch) -> None:
    monkeypatch.setattr(metrics_flush, "FLUSH_SECONDS", 0.5)
    counter = Counter(Settings(metrics_port=9102, heartbeat_seconds=0.01))
    refreshes = 0

    async def refresh() -> None:  # the heartbeat's round trip: the first fails, the rest answer
        nonlocal refreshes
        refreshes += 1
        if refreshes == 1:
            raise ConnectionError("the database went away")

    monkeypatch.setattr(counter.presence, "_refresh", refresh)

    async def scenario() -> None:
        before = {name: value(name) for name in WRITTEN}
        sockets = [ClosingSocket() for _ in range(3)]
        for socket in sockets:  # what Counter.handle does on a connect
            counter.clients.add(socket)  # type: ignore[arg-type]
            counter._sockets_changed()
            await asyncio.sleep(0.01)  # its broadcast
        heartbeats = asyncio.create_task(counter.presence._heartbeat_loop())
        await asyncio.sleep(0.1)
        heartbeats.cancel()
        assert refreshes >= 3  # a failure and two heartbeats
        # Recorded, none of it written yet (the gauges were set to 0 when the Counter was made).
        assert {name: value(name) for name in WRITTEN} == before | {
            "counter_sockets": 0,
            "counter_users_shown": 0,
        }
        await asyncio.sleep(1.0)
        after = {name: value(name) for name in WRITTEN}
        broadcasts = after["counter_broadcasts_total"] - before["counter_broadcasts_total"]
        assert (after["counter_sockets"], after["counter_users_shown"]) == (3, 3)
        assert broadcasts >= 1
        for histogram in (
            "counter_broadcast_duration_seconds_count",
            "counter_broadcast_delay_seconds_count",
        ):
            assert after[histogram] - before[histogram] == broadcasts
        assert after["counter_heartbeat_failures_total"] - before["counter_heartbeat_failures_total"] == 1
        heartbeat_count = "counter_heartbeat_duration_seconds_count"
        assert after[heartbeat_count] - before[heartbeat_count] == refreshes - 1
        assert time.time() - 5 < after["counter_heartbeat_last_success_timestamp_seconds"] <= time.time()

    asyncio.run(scenario())
