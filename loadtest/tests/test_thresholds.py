"""The gate's parts without a stack: grouping, verdicts, the host guard, the websocket helpers."""

import pytest
from locust.stats import RequestStats

from loadtest import hosts, routes
from loadtest.counter_user import count_problem, counter_url
from loadtest.routes import Group, Route
from loadtest.thresholds import Limits, evaluate, format_table

ALL_GROUPS = set(Group)


def record(stats: RequestStats, route: Route, times_ms: list[int | None], failures: int = 0) -> None:
    for time_ms in times_ms:
        stats.log_request(route.method, route.name, time_ms, 10)
    for _ in range(failures):
        stats.log_error(route.method, route.name, "boom")


def healthy_run() -> RequestStats:
    stats = RequestStats()
    record(stats, routes.API_PRODUCT, [5] * 96 + [40] * 4)
    record(stats, routes.API_CREATE_PRODUCT, [20] * 10)
    record(stats, routes.LEGACY_PRODUCT, [8] * 50)
    record(stats, routes.COUNTER_FIRST_COUNT, [30] * 10)
    record(stats, routes.COUNTER_UPDATE, [None] * 25)
    return stats


def result(verdict, group: Group):
    return next(r for r in verdict.groups if r.group == group)


def test_a_run_within_every_limit_passes() -> None:
    verdict = evaluate(healthy_run(), Limits(), ALL_GROUPS)
    assert verdict.passed, format_table(verdict)
    assert [r.group for r in verdict.groups] == sorted(ALL_GROUPS)
    assert result(verdict, Group.API_READ).p95_ms == 5
    assert format_table(verdict).splitlines()[-1] == "Thresholds: PASS"


def test_a_slow_group_fails_alone_and_the_table_says_which() -> None:
    stats = healthy_run()
    record(stats, routes.LEGACY_TIME, [900] * 50)
    verdict = evaluate(stats, Limits(), ALL_GROUPS)
    assert not verdict.passed
    assert result(verdict, Group.LEGACY).problems == ("p95 900 ms >= 500 ms",)
    assert all(r.passed for r in verdict.groups if r.group != Group.LEGACY)
    table = format_table(verdict)
    assert "FAIL: p95 900 ms >= 500 ms" in table and table.endswith("Thresholds: FAIL")


def test_the_p95_limit_is_exclusive() -> None:
    stats = healthy_run()
    assert not evaluate(stats, Limits(p95_ms={**Limits().p95_ms, Group.API_READ: 5}), ALL_GROUPS).passed
    assert evaluate(stats, Limits(p95_ms={**Limits().p95_ms, Group.API_READ: 6}), ALL_GROUPS).passed


def test_failures_above_the_ratio_fail_the_group() -> None:
    stats = healthy_run()
    # Locust logs a failed request as a request and an error: 1 failure in 20 writes.
    record(stats, routes.API_DELETE_PRODUCT, [10] * 10, failures=1)
    strict = evaluate(stats, Limits(max_fail_ratio=0.04), ALL_GROUPS)
    assert result(strict, Group.API_WRITE).problems == ("failure ratio 5.00% > 4.00%",)
    assert not strict.passed
    assert evaluate(stats, Limits(max_fail_ratio=0.05), ALL_GROUPS).passed


def test_websocket_updates_count_as_requests_but_not_in_the_latency() -> None:
    stats = RequestStats()
    record(stats, routes.COUNTER_UPDATE, [None] * 5, failures=1)
    verdict = evaluate(stats, Limits(max_fail_ratio=0.5), {Group.COUNTER})
    counter = result(verdict, Group.COUNTER)
    assert (counter.requests, counter.failures, counter.p95_ms) == (5, 1, None)
    assert verdict.passed


def test_a_group_that_should_have_run_but_measured_nothing_fails() -> None:
    stats = RequestStats()
    record(stats, routes.API_BRANDS, [5] * 10)
    verdict = evaluate(stats, Limits(), {Group.API_READ, Group.COUNTER})
    assert result(verdict, Group.COUNTER).problems == ("no requests: nothing was measured",)
    assert {r.group for r in verdict.groups} == {Group.API_READ, Group.COUNTER}  # others did not run
    assert not verdict.passed


def test_no_requests_at_all_fails_even_with_nothing_expected() -> None:
    verdict = evaluate(RequestStats(), Limits(), set())
    assert not verdict.passed and verdict.problems == ["no requests were made"]


def test_a_request_outside_the_route_table_fails_the_run() -> None:
    stats = healthy_run()
    stats.log_request("GET", "/api/products/17", 5, 10)  # an id that should have been [id]
    verdict = evaluate(stats, Limits(), ALL_GROUPS)
    assert not verdict.passed
    assert verdict.problems == ["GET /api/products/17: a request outside the route table (routes.py)"]


def test_exceptions_in_the_scenarios_fail_the_run() -> None:
    verdict = evaluate(healthy_run(), Limits(), ALL_GROUPS, exceptions=2)
    assert not verdict.passed and "2 unhandled exception(s)" in verdict.problems[0]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://localhost:8080",
        "http://[::1]:8080",
        "https://127.0.0.2",
        "http://LOCALHOST",
    ],
)
def test_loopback_targets_are_allowed(url: str) -> None:
    assert hosts.refusal(url, set()) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",
        "http://10.0.0.5:8080",
        "http://nginx:8080",
        "ftp://127.0.0.1",
        "127.0.0.1:8080",
        "",
        None,
    ],
)
def test_anything_else_is_refused(url: str | None) -> None:
    assert hosts.refusal(url, set())


def test_a_named_host_is_allowed_only_when_listed() -> None:
    allowed = hosts.parse_allowed(" nginx , Staging.Example ")
    assert allowed == {"nginx", "staging.example"}
    assert hosts.refusal("http://nginx:8080", allowed) is None
    assert hosts.refusal("https://staging.example", allowed) is None
    assert hosts.refusal("http://nginx2:8080", allowed)


def test_every_route_is_in_the_table_once() -> None:
    names = [value for value in vars(routes).values() if isinstance(value, Route)]
    assert len(routes.ROUTES) == len(names)
    assert {routes.group_of(r.method, r.name) for r in names} == set(Group)


def test_counter_url_follows_the_host_scheme() -> None:
    assert counter_url("http://127.0.0.1:8080") == "ws://127.0.0.1:8080/counter"
    assert counter_url("https://shop.example/") == "wss://shop.example/counter"


@pytest.mark.parametrize(
    ("message", "ok"),
    [("1", True), ("42", True), ("0", False), ("-1", False), ("x", False), (b"3", False), ("", False)],
)
def test_a_count_is_a_positive_integer_in_text(message: str | bytes, ok: bool) -> None:
    assert (count_problem(message) is None) is ok
