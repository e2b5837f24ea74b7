"""HttpMetrics, in this process (prometheus_client's default in-memory mode): the in-flight gauge is
written at most once a second while busy and always when idle again; each request one observation,
under bounded labels."""

from prometheus_client import REGISTRY
from stack_common import metrics
from stack_common.metrics import HttpMetrics


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_in_flight_is_refreshed_at_most_once_a_second_and_when_idle(monkeypatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(metrics.time, "perf_counter", lambda: now[0])
    http = HttpMetrics()
    first = http.started()
    assert value("http_requests_in_flight") == 1  # the first write of this worker
    now[0] += 0.1
    second = http.started()
    assert value("http_requests_in_flight") == 1  # not yet: within the second
    now[0] += 1.0
    third = http.started()
    assert value("http_requests_in_flight") == 3  # a second later
    http.finished(first, "/brands", "GET", 200)
    http.finished(second, "/brands", "GET", 200)
    assert value("http_requests_in_flight") == 3  # busy, and written less than a second ago
    http.finished(third, "/brands", "GET", 200)
    assert value("http_requests_in_flight") == 0  # idle: written at once


def test_each_request_is_one_observation_with_bounded_labels(monkeypatch) -> None:
    now = [2000.0]
    monkeypatch.setattr(metrics.time, "perf_counter", lambda: now[0])
    http = HttpMetrics()
    labels = {"route": "/products/{product_id}", "method": "other", "status": "405"}
    before = value("http_request_duration_seconds_count", **labels)
    started = http.started()
    now[0] += 0.003
    http.finished(started, "/products/{product_id}", "BREW", 405)  # a method nobody serves
    assert value("http_request_duration_seconds_count", **labels) == before + 1
    assert value("http_request_duration_seconds_bucket", **labels, le="0.0025") == 0
    assert value("http_request_duration_seconds_bucket", **labels, le="0.005") == before + 1
