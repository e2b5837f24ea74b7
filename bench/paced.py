"""The highest request rate a target sustains with its p99 under a bound, found in a few paced runs.

A saturated wrk run keeps all its connections busy: by Little's law their mean latency is
connections / requests per second, so at -c200 a p99 under 50 ms would take well over 4,000
requests/s with a tight tail. "Requests/s at p99 < 50 ms" is therefore measured as it says: the
same 200 connections, each pausing before every request (the wrk script's delay(): a random pause
whose mean sets the rate), at requested rates bisected between the slowest a connection may go
(its pauses under nginx's idle limit) and the saturated run's rate. A rate passes when its p99 is
under the bound; the highest passing run is the answer, with the rate it achieved (below the
requested one: a connection's cycle is its pause plus the latency).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


# nginx closes a connection that sends nothing for 10 s (client_header_timeout, which a new
# connection's first request is held to): no pause (at most twice the mean) may come near that.
LONGEST_PAUSE_MS = 9000


def mean_pause_ms(requests_per_s: float, connections: int) -> float:
    """Each connection's mean pause before a request, for `connections` together to send about
    `requests_per_s`."""
    return connections * 1000 / requests_per_s


def slowest_rate(connections: int) -> float:
    """The lowest rate the paced runs ask for: the one whose longest pause is LONGEST_PAUSE_MS."""
    return connections * 1000 / (LONGEST_PAUSE_MS / 2)


@dataclass(frozen=True)
class Step:
    requested_per_s: float
    row: dict  # the paced run's measurements (bench/run.py: requests_per_s, p99_ms, …)
    passed: bool


def search(
    slowest_per_s: float,
    saturated_per_s: float,
    p99_bound_ms: float,
    steps: int,
    run: Callable[[float], dict],
) -> list[Step]:
    """Bisects the requested rate between `slowest_per_s` and `saturated_per_s`: `steps` runs of
    `run(rate)`, each halving the interval the answer lies in (5 steps: within 1/32 of it)."""
    low, high = slowest_per_s, max(saturated_per_s, slowest_per_s)
    taken: list[Step] = []
    for _ in range(steps):
        rate = (low + high) / 2
        row = run(rate)
        passed = row["p99_ms"] < p99_bound_ms
        taken.append(Step(rate, row, passed))
        if passed:
            low = rate
        else:
            high = rate
    return taken


def answer(steps: list[Step]) -> Step:
    """The passing run that served the most requests/s; when none passed, the slowest run tried
    (which then reports the failure)."""
    passing = [step for step in steps if step.passed]
    if passing:
        return max(passing, key=lambda step: step.row["requests_per_s"])
    return min(steps, key=lambda step: step.requested_per_s)
