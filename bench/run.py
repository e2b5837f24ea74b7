"""The framework comparison: our services and the textbook baselines, hit one after another by wrk.

    python -m bench.run                 # full run: wrk -t1 -c200 -d30s per target (make bench)
    python -m bench.run --quick         # a few seconds per target (make bench-quick, and the test)
    python -m bench.run --only api-nginx,fastapi --duration 10

One native stack (dev/stack.py: PostgreSQL seeded from postgres/, the services, nginx) is started on
free loopback ports, every baseline beside it against the same database; each target gets a short
warm-up, then its measured run. Results go to <results-dir>/<timestamp>/ and <results-dir>/latest.*.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import asyncpg

from bench import cpu, paced, report, wrk
from bench.targets import (
    FLASK_WORKERS,
    METERED,
    MetricsTwins,
    Target,
    our_targets,
    probe_url,
    start_baselines,
)
from dev.stack import DEFAULT_PORTS, Stack, free_port

RESULTS_DIR = Path(__file__).resolve().parent / "results"
QUICK_DURATION_S = 3
# A target with a p99 bound (the mix) is run again at paced rates, this many runs of at most this
# long each (bench/paced.py); with --quick, fewer.
PACED_STEPS, QUICK_PACED_STEPS = 5, 2
PACED_STEP_MAX_S = 10
# What the metrics cost is a few per cent, less than two runs or two instances differ by on a shared
# machine: fresh instances with metrics on and off take turns (bench/targets.py MetricsTwins), this
# many pairs, each run a sixth of a target's duration, after a warm-up of at most PAIR_WARMUP_S;
# with --quick, fewer.
METRICS_PAIRS, QUICK_METRICS_PAIRS = 6, 2
PAIR_WARMUP_S = 2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_DURATION_S} s per target, 1 s warm-up")
    parser.add_argument("--duration", type=float, help="seconds per target (default 30, or 3 with --quick)")
    parser.add_argument(
        "--warmup", type=float, help="seconds of unmeasured load first (default 5, 1 with --quick)"
    )
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes of every multi-process setup (default: CPU count)",
    )
    parser.add_argument("--only", help="comma-separated target names (default: all)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    args.duration = args.duration or (QUICK_DURATION_S if args.quick else 30)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 5)
    return args


def product_id_range(stack: Stack) -> tuple[int, int]:
    async def query() -> tuple[int, int]:
        connection = await asyncpg.connect(stack.database_url(with_password=True))
        try:
            row = await connection.fetchrow("SELECT min(product_id), max(product_id) FROM product")
        finally:
            await connection.close()
        return row[0], row[1]

    return asyncio.run(query())


def measure(target: Target, options: wrk.WrkOptions, warmup_s: float, raw_dir: Path, stack: Stack) -> dict:
    if warmup_s > 0:
        wrk.run(target.url, options, target.script, target.script_args, duration_s=warmup_s)
    return measure_once(target, options, raw_dir / f"{target.name}.txt", stack)


def measure_once(
    target: Target,
    options: wrk.WrkOptions,
    raw_path: Path,
    stack: Stack,
    extra_args: tuple[str, ...] = (),
    duration_s: float | None = None,
) -> dict:
    """One measured wrk run of `target` (its script given `extra_args` after its own): the row."""
    load = os.getloadavg()[0]  # other work on the machine skews a run: kept with each row
    roots = {name: process.pid for name, process in stack.processes.items()}
    before = cpu.snapshot(roots)
    script_args = [*target.script_args, *extra_args]
    result, output = wrk.run(target.url, options, target.script, script_args, duration_s=duration_s)
    after = cpu.snapshot(roots)
    raw_path.write_text(output)
    return {
        "name": target.name,
        "label": target.label,
        "kind": target.kind,
        "url": target.url,
        "description": target.description,
        "load_average_1m": round(load, 2),
        **result.as_dict(),
        "cpu_us_per_request": cpu.by_role(cpu.per_request_us(before, after, result.requests)),
    }


def measure_at_p99_bound(
    target: Target, saturated: dict, options: wrk.WrkOptions, steps: int, raw_dir: Path, stack: Stack
) -> dict:
    """The row of the highest rate at which `target` keeps its p99 under its bound: `saturated` itself
    when it already does, else the best of `steps` paced runs below its rate (bench/paced.py)."""
    bound = target.p99_bound_ms
    assert bound is not None
    name, label = f"{target.name}-p99", f"{target.label}, p99 < {bound:g} ms"
    if saturated["p99_ms"] < bound:
        return {**saturated, "name": name, "label": label, "requested_per_s": None}

    def run(rate: float) -> dict:
        pause = paced.mean_pause_ms(rate, options.connections)
        print(f"  paced at {rate:,.0f} requests/s (mean pause {pause:.1f} ms)", file=sys.stderr, flush=True)
        raw_path = raw_dir / f"{name}-{rate:.0f}.txt"
        duration = min(options.duration_s, PACED_STEP_MAX_S)
        return measure_once(target, options, raw_path, stack, (f"{pause:.3f}",), duration)

    slowest = paced.slowest_rate(options.connections)
    best = paced.answer(paced.search(slowest, saturated["requests_per_s"], bound, steps, run))
    return {**best.row, "name": name, "label": label, "requested_per_s": round(best.requested_per_s)}


def measure_metrics_cost(
    twins: MetricsTwins,
    service: str,
    options: wrk.WrkOptions,
    warmup_s: float,
    pairs: int,
    raw_dir: Path,
    stack: Stack,
) -> dict:
    """`service`'s route with metrics on and off, in pairs of runs back to back, each pair against
    fresh instances (MetricsTwins), the first of each pair swapped every time, so neither side
    always runs second: each pair's two rows."""
    metered, path = METERED[service]
    run_s = max(1.0, options.duration_s / METRICS_PAIRS)
    print(f"{metered}: metrics on and off, {pairs} pairs of {run_s:g}s runs", file=sys.stderr, flush=True)
    measured = []
    for number in range(1, pairs + 1):
        targets = twins.start(service, number)
        try:
            sides = list(targets.items()) if number % 2 else list(targets.items())[::-1]
            for _, target in sides:  # a fresh instance fills its pool and caches first
                wrk.run(target.url, options, duration_s=min(warmup_s, PAIR_WARMUP_S))
            rows = {}
            for side, target in sides:
                raw_path = raw_dir / f"{metered}-pair{number}-{side}.txt"
                rows[side] = measure_once(target, options, raw_path, stack, duration_s=run_s)
        finally:
            twins.stop(targets)
        measured.append(rows)
    return {"name": metered, "label": f"{path} via nginx", "run_s": run_s, "pairs": measured}


def save(run_dir: Path, results_dir: Path, rows: list[dict], run: dict, text: str) -> None:
    (run_dir / "results.md").write_text(text)
    (run_dir / "results.json").write_text(json.dumps({"run": run, "results": rows}, indent=2) + "\n")
    report.chart(rows, run, run_dir / "results.png")
    for suffix in ("md", "json", "png"):
        shutil.copyfile(run_dir / f"results.{suffix}", results_dir / f"latest.{suffix}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = wrk.WrkOptions(threads=args.threads, connections=args.connections, duration_s=args.duration)
    wrk_version = wrk.version()  # installs wrk first when it is missing
    started = datetime.datetime.now().astimezone()
    run_dir = args.results_dir / started.strftime("%Y%m%d-%H%M%S")
    (run_dir / "wrk").mkdir(parents=True, exist_ok=True)
    state_dir = Path(tempfile.mkdtemp(prefix="bench-stack-"))
    stack = Stack(state_dir, ports={name: free_port() for name in DEFAULT_PORTS}, workers=args.workers)

    print(
        f"starting the stack and the baselines ({args.workers} workers each; logs in {stack.logs_dir})",
        file=sys.stderr,
    )
    stack.start()
    finished = False
    try:
        # Baselines first, each stopped once measured: its database connections go back before the
        # next target runs (the app role may hold 80), and no idle process is left beside ours.
        product_ids = product_id_range(stack)
        token = stack.write_tokens_file.read_text().split()[0]  # writes need the api's bearer token
        targets = [
            *start_baselines(stack, args.workers, product_ids),
            *our_targets(stack, product_ids, token),
        ]
        # What the metrics cost, measured last: selected by these names, as if they were targets.
        metered = {f"{name}-metrics-off": service for service, (name, _) in METERED.items()}
        if args.only:
            wanted = set(args.only.split(","))
            unknown = wanted - {target.name for target in targets} - set(metered)
            if unknown:
                raise SystemExit(f"unknown targets: {', '.join(sorted(unknown))}")
            targets = [target for target in targets if target.name in wanted]
            metered = {name: service for name, service in metered.items() if name in wanted}
        stack.wait_ready(urls=[probe_url(target) for target in targets])

        rows = []
        for number, target in enumerate(targets, 1):
            print(
                f"[{number}/{len(targets)}] {target.name}: {target.url} "
                f"({args.warmup:g}s warm-up + {args.duration:g}s)",
                file=sys.stderr,
                flush=True,
            )
            rows.append(measure(target, options, args.warmup, run_dir / "wrk", stack))
            if target.p99_bound_ms is not None:
                steps = QUICK_PACED_STEPS if args.quick else PACED_STEPS
                rows.append(measure_at_p99_bound(target, rows[-1], options, steps, run_dir / "wrk", stack))
            # A baseline's process goes once the last target it serves is measured.
            remaining = {later.process for later in targets[number:]}
            if target.process is not None and target.process not in remaining:
                stack.stop_process(target.process)
        pairs = QUICK_METRICS_PAIRS if args.quick else METRICS_PAIRS
        twins = MetricsTwins(stack) if metered else None
        metrics_cost = [
            measure_metrics_cost(twins, service, options, args.warmup, pairs, run_dir / "wrk", stack)
            for service in metered.values()
        ]
        report.with_ratios(rows)
        found = report.checks(rows, metrics_cost)
        run = {
            "started": started.isoformat(timespec="seconds"),
            "threads": args.threads,
            "connections": args.connections,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "workers": args.workers,
            "flask_workers": FLASK_WORKERS,
            "machine": report.machine(stack.bindir, wrk_version),
            "checks": [{"check": c.description, "passed": c.passed, "measured": c.measured} for c in found],
            "metrics_cost": metrics_cost,
        }
        text = report.markdown(rows, found, run)
        save(run_dir, args.results_dir, rows, run, text)
        print(text)
        print(f"saved in {run_dir} and {args.results_dir}/latest.{{md,json,png}}")
        finished = True
    finally:
        for name in [name for name in stack.processes if name.startswith("bench-")]:
            stack.stop_process(name)  # the baselines a failure left running
        stack.stop()
        # Every process's log stays with the results; the throwaway cluster and its secrets go.
        shutil.copytree(stack.logs_dir, run_dir / "logs", dirs_exist_ok=True)
        shutil.rmtree(state_dir, ignore_errors=True)
        if not finished:
            print(f"logs in {run_dir / 'logs'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
