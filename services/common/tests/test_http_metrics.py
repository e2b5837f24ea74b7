"""HttpMetrics and the flusher, in this process (prometheus_client's default in-memory mode): each
request one observation under bounded labels; inside an event loop, nothing written per request but
everything within a flush interval, the in-flight gauge included; a flush that is overdue happens at
the next record; the pool's gauges are read from the pool when flushed."""

import asyncio
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from prometheus_client import REGISTRY
from stack_common import metrics, metrics_flush
from stack_common.metrics import FLUSHER, HttpMetrics, PoolMetrics

BRANDS = {"route": "/brands", "method": "GET", "status": "200"}


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture(autouse=True)
def no_pending_flush() -> Iterator[None]:
    """Whatever an earlier test recorded is written, and no timer of a closed loop is awaited."""
    FLUSHER.flush()
    yield
    FLUSHER.flush()


def test_each_request_is_one_observation_with_bounded_labels(monkeypatch) -> None:
    # Outside an event loop there is no timer to wait for: written at once.
    now = [2000.0]
    monkeypatch.setattr(metrics, "perf_counter", lambda: now[0])
    http = HttpMetrics()
    labels = {"route": "/products/{product_id}", "method": "other", "status": "405"}
    before = value("http_request_duration_seconds_count", **labels)
    started = http.started()
    now[0] += 0.003
    http.finished(started, "/products/{product_id}", "BREW", 405)  # a method nobody serves
    assert value("http_request_duration_seconds_count", **labels) == before + 1
    assert value("http_request_duration_seconds_bucket", **labels, le="0.0025") == before
    assert value("http_request_duration_seconds_bucket", **labels, le="0.005") == before + 1
    assert value("http_request_duration_seconds_sum", **labels) == pytest.approx(before * 0.003 + 0.003)


def test_in_a_loop_requests_are_written_together_within_a_flush_interval(monkeypatch) -> None:
    monkeypatch.setattr(metrics_flush, "FLUSH_SECONDS", 0.2)
    http = HttpMetrics()

    async def scenario() -> None:
        before = value("http_request_duration_seconds_count", **BRANDS)
        for _ in range(3):
            http.finished(http.started(), "/brands", "GET", 200)
        busy = http.started()
        # Recorded, not yet written: the request path made no file write.
        assert value("http_request_duration_seconds_count", **BRANDS) == before
        assert value("http_requests_in_flight") == 0
        await asyncio.sleep(0.4)
        assert value("http_request_duration_seconds_count", **BRANDS) == before + 3
        assert value("http_requests_in_flight") == 1  # the busy one, written by the flush
        http.finished(busy, "/brands", "GET", 200)
        await asyncio.sleep(0.4)
        assert value("http_request_duration_seconds_count", **BRANDS) == before + 4
        assert value("http_requests_in_flight") == 0  # idle again

    asyncio.run(scenario())


def test_an_overdue_flush_is_made_by_the_next_record(monkeypatch) -> None:
    """A flush whose timer has not run by its deadline (the loop too busy, or gone) is made at once."""
    now = [100.0]
    monkeypatch.setattr(metrics, "perf_counter", lambda: now[0])
    http = HttpMetrics()

    async def scenario() -> None:
        before = value("http_request_duration_seconds_count", **BRANDS)
        http.finished(http.started(), "/brands", "GET", 200)  # arms the timer
        assert value("http_request_duration_seconds_count", **BRANDS) == before
        now[0] += metrics_flush.FLUSH_SECONDS  # the deadline passes without the loop running the timer
        http.started()
        assert value("http_request_duration_seconds_count", **BRANDS) == before + 1
        assert value("http_requests_in_flight") == 1

    asyncio.run(scenario())


def test_the_pool_gauges_are_read_from_the_pool_when_flushed() -> None:
    pool = SimpleNamespace(size=3, in_use=2, waiting=0)
    PoolMetrics(max_size=10).watch(pool)  # type: ignore[arg-type]
    FLUSHER.flush()
    assert [value(name) for name in ("db_pool_max_connections", "db_pool_connections", "db_pool_in_use")] == [
        10,
        3,
        2,
    ]
    pool.in_use, pool.waiting = 0, 4
    FLUSHER.flush()
    assert (value("db_pool_in_use"), value("db_pool_waiters")) == (0, 4)
