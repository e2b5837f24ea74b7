"""The pass/fail gate of a run: failure ratio and p95 latency per route group (routes.py).

The limits are Locust options (so the CLI, LOCUST_* variables, `make loadtest` variables and the web
UI all set them); `evaluate` turns a run's stats into a verdict, `format_table` prints it.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from locust.argument_parser import LocustArgumentParser
from locust.stats import RequestStats, StatsEntry

from loadtest.routes import Group, group_of

DEFAULT_MAX_FAIL_RATIO = 0.01
# p95 limits in ms. Generous for a laptop running the stack and Locust side by side; tighten them
# for your hardware (see README.md).
DEFAULT_P95_MS = {
    Group.API_READ: 500,
    Group.API_WRITE: 1000,
    Group.LEGACY: 500,
    Group.COUNTER: 1000,
}


def option_dest(group: Group) -> str:
    return f"p95_{group.value.replace('-', '_')}_ms"


def add_options(parser: LocustArgumentParser) -> None:
    parser.add_argument(
        "--max-fail-ratio",
        type=float,
        env_var="LOCUST_MAX_FAIL_RATIO",
        default=DEFAULT_MAX_FAIL_RATIO,
        help="Highest share of failed requests allowed in each route group (0.01 = 1%%)",
    )
    for group, default in DEFAULT_P95_MS.items():
        parser.add_argument(
            f"--{option_dest(group).replace('_', '-')}",
            type=int,
            env_var=f"LOCUST_{option_dest(group).upper()}",
            default=default,
            help=f"p95 latency of the {group} group must stay below this many ms",
        )


@dataclass(frozen=True)
class Limits:
    max_fail_ratio: float = DEFAULT_MAX_FAIL_RATIO
    p95_ms: dict[Group, int] = field(default_factory=lambda: dict(DEFAULT_P95_MS))

    @classmethod
    def from_options(cls, options: object) -> "Limits":
        return cls(
            max_fail_ratio=options.max_fail_ratio,
            p95_ms={group: getattr(options, option_dest(group)) for group in DEFAULT_P95_MS},
        )


@dataclass(frozen=True)
class GroupResult:
    group: Group
    requests: int
    failures: int
    fail_ratio: float
    p95_ms: int | None  # None: no timed samples (a group of updates only, or no requests)
    max_fail_ratio: float
    p95_limit_ms: int
    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Verdict:
    groups: list[GroupResult]
    problems: list[str]  # outside any group: requests no route names, exceptions in the scenarios

    @property
    def passed(self) -> bool:
        return not self.problems and all(result.passed for result in self.groups)


def evaluate(stats: RequestStats, limits: Limits, expected: Iterable[Group], exceptions: int = 0) -> Verdict:
    """Judge every group that has requests or is expected to (one of the run's user classes makes them)."""
    merged: dict[Group, StatsEntry] = {}
    problems = []
    for (name, method), entry in stats.entries.items():
        group = group_of(method, name)
        if group is None:
            problems.append(f"{method} {name}: a request outside the route table (routes.py)")
            continue
        merged.setdefault(group, StatsEntry(stats, group.value, "")).extend(entry)
    if stats.total.num_requests == 0:
        problems.append("no requests were made")
    if exceptions:
        problems.append(f"{exceptions} unhandled exception(s) in the scenarios (see the log)")

    results = []
    for group in sorted(set(merged) | set(expected)):
        entry = merged.get(group) or StatsEntry(stats, group.value, "")
        timed = entry.num_requests - entry.num_none_requests
        p95 = entry.get_response_time_percentile(0.95) if timed else None
        limit = limits.p95_ms[group]
        group_problems = []
        if entry.num_requests == 0:
            group_problems.append("no requests: nothing was measured")
        if entry.fail_ratio > limits.max_fail_ratio:
            group_problems.append(f"failure ratio {entry.fail_ratio:.2%} > {limits.max_fail_ratio:.2%}")
        if p95 is not None and p95 >= limit:
            group_problems.append(f"p95 {p95} ms >= {limit} ms")
        results.append(
            GroupResult(
                group=group,
                requests=entry.num_requests,
                failures=entry.num_failures,
                fail_ratio=entry.fail_ratio,
                p95_ms=p95,
                max_fail_ratio=limits.max_fail_ratio,
                p95_limit_ms=limit,
                problems=tuple(group_problems),
            )
        )
    return Verdict(groups=results, problems=problems)


def format_table(verdict: Verdict) -> str:
    header = ("group", "requests", "failures", "fail ratio", "max", "p95 ms", "below", "result")
    rows = [
        (
            str(result.group),
            str(result.requests),
            str(result.failures),
            f"{result.fail_ratio:.2%}",
            f"{result.max_fail_ratio:.2%}",
            "-" if result.p95_ms is None else str(result.p95_ms),
            str(result.p95_limit_ms),
            "pass" if result.passed else "FAIL: " + "; ".join(result.problems),
        )
        for result in verdict.groups
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1]
        for row in [header, *rows]
    ]
    lines += [f"FAIL: {problem}" for problem in verdict.problems]
    lines.append(f"Thresholds: {'PASS' if verdict.passed else 'FAIL'}")
    return "\n".join(lines)
