"""The run's output: the machine, the results table (markdown), the project's target checks, a chart."""

from __future__ import annotations

import os
import platform
import re
import shutil
import statistics
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from bench.targets import MIX_P99_BOUND_MS

PACKAGES = (
    "fastapi",
    "starlette",
    "pydantic",
    "uvicorn",
    "gunicorn",
    "aiohttp",
    "asyncpg",
    "uvloop",
    "httptools",
    "flask",
    "psycopg2-binary",
    "django",
)
# The textbook baselines every row is compared with.
REFERENCES = {"fastapi": "× FastAPI", "aiohttp": "× aiohttp"}
KIND_COLOURS = {"ours": "#2a7ab0", "baseline": "#c07a2a", "floor": "#8a8a8a"}


@dataclass(frozen=True)
class Check:
    """One of the project's targets: subject's req/s ≥ factor × reference's (or a zero-errors check)."""

    description: str
    passed: bool
    measured: str

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'}  {self.description}: {self.measured}"


def command_version(command: list[str]) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    lines = (result.stdout + result.stderr).strip().splitlines()
    return lines[0] if lines else "unavailable"


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    match = re.search(r"^model name\s*:\s*(.+)$", text, flags=re.MULTILINE)
    return match.group(1).strip() if match else platform.processor() or "unknown"


def machine(postgres_bindir: Path | None, wrk_version: str) -> dict:
    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_average_at_start": [round(load, 2) for load in os.getloadavg()],
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "nginx": command_version([shutil.which("nginx") or "/usr/sbin/nginx", "-v"]),
        "postgres": command_version([str((postgres_bindir or Path()) / "postgres"), "--version"]),
        "wrk": wrk_version,
        "packages": {package: version(package) for package in PACKAGES},
    }


def with_ratios(rows: list[dict]) -> list[dict]:
    """Each row gains vs_<reference>: its req/s over that textbook baseline's, when both ran."""
    rates = {row["name"]: row["requests_per_s"] for row in rows}
    for row in rows:
        for reference in REFERENCES:
            base = rates.get(reference)
            row[f"vs_{reference}"] = round(row["requests_per_s"] / base, 3) if base else None
    return rows


def metrics_cost_summary(cost: dict) -> dict:
    """One metered route's pairs of runs (bench/run.py measure_metrics_cost) in a few figures: each
    pair's ratio of req/s with metrics over without, their median (what the target is judged on: each
    pair ran back to back, so a slow stretch of the machine slows both of its runs, and the median
    leaves out a pair that one passing disturbance split), and the service's CPU per request."""

    def median(side: str, figure) -> float:
        return statistics.median(figure(pair[side]) for pair in cost["pairs"])

    ratios = [pair["with"]["requests_per_s"] / pair["without"]["requests_per_s"] for pair in cost["pairs"]]
    return {
        "ratios": [round(ratio, 3) for ratio in ratios],
        "median_ratio": round(statistics.median(ratios), 3),
        "requests_per_s": {
            side: median(side, lambda row: row["requests_per_s"]) for side in ("with", "without")
        },
        "services_us": {
            side: median(side, lambda row: row["cpu_us_per_request"]["services"])
            for side in ("with", "without")
        },
        "failed": sum(row["errors"] + row["timeouts"] for pair in cost["pairs"] for row in pair.values()),
    }


def checks(rows: list[dict], metrics_cost: list[dict] = ()) -> list[Check]:
    """The project's targets, each checked when the targets it compares ran in this run."""
    by_name = {row["name"]: row for row in rows}
    found: list[Check] = []

    def ratio(subject: str, reference: str, factor: float, what: str) -> Check | None:
        if subject in by_name and reference in by_name and by_name[reference]["requests_per_s"] > 0:
            value = by_name[subject]["requests_per_s"] / by_name[reference]["requests_per_s"]
            description = f"{what} ≥ {factor:g}× {by_name[reference]['label']}"
            return Check(description, value >= factor, f"{value:.2f}×")
        return None

    for subject, reference, factor, what in (
        ("api-nginx", "fastapi", 2.0, "/api/brands via nginx"),
        ("api-nginx", "aiohttp", 1.0, "/api/brands via nginx"),
        ("legacy-nginx", "aiohttp", 1.2, "/legacy/brands via nginx"),
        ("api-product-nginx", "aiohttp-product", 1.25, "/api/products/{id} via nginx"),
        ("legacy-product-nginx", "aiohttp-product", 2.5, "/legacy/products/{id} via nginx"),
        ("api-create-nginx", "aiohttp-create", 1.0, "POST /api/products via nginx"),
    ):
        if check := ratio(subject, reference, factor, what):
            found.append(check)
    for cost in metrics_cost:
        summary = metrics_cost_summary(cost)
        found.append(
            Check(
                f"metrics cost: {cost['label']} with metrics ≥ 0.95× without (median of "
                f"{len(cost['pairs'])} alternating pairs)",
                summary["median_ratio"] >= 0.95,
                f"{summary['median_ratio']:.3f}×",
            )
        )
        found.append(
            Check(
                f"zero errors and timeouts: {cost['label']}, metrics on and off in turns",
                summary["failed"] == 0,
                f"{summary['failed']} failed",
            )
        )
    if "mix-nginx-p99" in by_name:
        # The highest rate the paced runs found at the bound (bench/paced.py), beside the saturated run.
        paced, saturated = by_name["mix-nginx-p99"], by_name["mix-nginx"]
        found.append(
            Check(
                f"the mix via nginx: requests/s at p99 < {MIX_P99_BOUND_MS:g} ms",
                paced["p99_ms"] < MIX_P99_BOUND_MS,
                f"{paced['requests_per_s']:,.0f} req/s at p99 {paced['p99_ms']:.1f} ms (saturated: "
                f"{saturated['requests_per_s']:,.0f} req/s at p99 {saturated['p99_ms']:.1f} ms)",
            )
        )
    for row in rows:
        if row["kind"] == "ours":
            failed = row["errors"] + row["timeouts"]
            found.append(
                Check(
                    f"zero errors and timeouts: {row['label']}",
                    failed == 0,
                    f"{row['errors']} errors, {row['timeouts']} timeouts",
                )
            )
    return found


CPU_COLUMNS = {
    "wrk": "wrk",
    "nginx": "nginx",
    "services": "services",
    "postgres": "PostgreSQL",
    "other": "other",
    "machine": "all",
}


def cpu_table(rows: list[dict]) -> list[str]:
    """CPU µs per request by process, for the rows that have it."""
    measured = [row for row in rows if row.get("cpu_us_per_request")]
    if not measured:
        return []
    lines = [
        "",
        "CPU per request (µs; all = the machine's busy time over requests served):",
        "",
        "| Target | " + " | ".join(CPU_COLUMNS.values()) + " |",
        "|---|" + "---:|" * len(CPU_COLUMNS),
    ]
    for row in measured:
        cells = [f"{row['cpu_us_per_request'].get(role, 0.0):.1f}" for role in CPU_COLUMNS]
        lines.append(f"| {row['label']} | " + " | ".join(cells) + " |")
    return lines


def nginx_per_route(rows: list[dict]) -> list[str]:
    """nginx's own CPU per proxied request, route by route: the hop's cost, to keep from growing."""
    proxied = [
        f"{row['label'].removesuffix(' via nginx')} {row['cpu_us_per_request']['nginx']:.1f}"
        for row in rows
        if row["kind"] == "ours" and row["label"].endswith("via nginx") and row.get("cpu_us_per_request")
    ]
    if not proxied:
        return []
    return ["", "nginx CPU per proxied request (µs): " + "; ".join(proxied) + "."]


def metrics_cost_table(metrics_cost: list[dict]) -> list[str]:
    """Each metered route's pairs of runs, metrics on against off."""
    if not metrics_cost:
        return []
    lines = [
        "",
        f"What the metrics cost ({len(metrics_cost[0]['pairs'])} pairs of {metrics_cost[0]['run_s']:g} s runs, "
        "each pair against fresh instances with metrics on and off, the first swapped every time; medians):",
        "",
        "| Route | req/s with | req/s without | each pair, with ÷ without | median | services µs/request with / without |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for cost in metrics_cost:
        summary = metrics_cost_summary(cost)
        rates, cpu_us = summary["requests_per_s"], summary["services_us"]
        lines.append(
            f"| {cost['label']} | {rates['with']:,.0f} | {rates['without']:,.0f} | "
            f"{', '.join(f'{ratio:.2f}' for ratio in summary['ratios'])} | {summary['median_ratio']:.3f}× | "
            f"{cpu_us['with']:.1f} / {cpu_us['without']:.1f} |"
        )
    return lines


def markdown(rows: list[dict], found: list[Check], run: dict) -> str:
    head = ["Target", "Kind", "req/s", "p50 ms", "p99 ms", "errors", "timeouts", *REFERENCES.values()]
    lines = [
        f"wrk -t{run['threads']} -c{run['connections']} -d{run['duration_s']:g}s, "
        f"{run['workers']} workers per multi-process setup, {run['started']}",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---", "---", *["---:"] * (len(head) - 2)]) + "|",
    ]
    for row in rows:
        ratios = [f"{row[f'vs_{ref}']:.2f}" if row[f"vs_{ref}"] is not None else "–" for ref in REFERENCES]
        lines.append(
            f"| {row['label']} | {row['kind']} | {row['requests_per_s']:,.0f} | {row['p50_ms']:.2f} | "
            f"{row['p99_ms']:.2f} | {row['errors']} | {row['timeouts']} | " + " | ".join(ratios) + " |"
        )
    lines += cpu_table(rows)
    lines += nginx_per_route(rows)
    lines += metrics_cost_table(run.get("metrics_cost", []))
    lines += ["", "Targets (same run):", "", *(f"- {check.line()}" for check in found)]
    box = run["machine"]
    lines += [
        "",
        f"Machine: {box['cpu']}, {box['cores']} cores, {box['kernel']}, Python {box['python']}, "
        f"{box['nginx']}, {box['postgres']}, {box['wrk']}; load average at start "
        f"{', '.join(map(str, box['load_average_at_start']))}.",
        "Packages: " + ", ".join(f"{name} {version}" for name, version in box["packages"].items()) + ".",
    ]
    return "\n".join(lines) + "\n"


def chart(rows: list[dict], run: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    from matplotlib import pyplot
    from matplotlib.patches import Patch

    ordered = sorted(rows, key=lambda row: row["requests_per_s"])
    figure, axes = pyplot.subplots(figsize=(9, 0.45 * len(ordered) + 1.6))
    bars = axes.barh(
        [row["label"] for row in ordered],
        [row["requests_per_s"] for row in ordered],
        color=[KIND_COLOURS[row["kind"]] for row in ordered],
    )
    axes.bar_label(bars, labels=[f"{row['requests_per_s']:,.0f}" for row in ordered], padding=3, fontsize=8)
    axes.set_xlabel("requests per second (higher is better)")
    axes.set_title(
        f"each target's route (brand list unless named; floors: fixed body) — wrk -t{run['threads']} "
        f"-c{run['connections']} -d{run['duration_s']:g}s, {run['machine']['cores']} cores",
        fontsize=10,
    )
    axes.legend(
        handles=[Patch(color=colour, label=kind) for kind, colour in KIND_COLOURS.items()],
        loc="lower right",
        fontsize=8,
    )
    axes.margins(x=0.15)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
