"""The services' own view of a load test, from Prometheus, beside Locust's (make loadtest).

For the run's window: each route's p95 as the service measured it (from the arrival of the request
at the application to its response: without the network and nginx that Locust's p95 includes), the
requests it counted, and the most requests that waited at once for a pooled database connection.
Printed, and saved with the reports as server_view.{txt,json}. When Prometheus does not answer
(`make dev` runs none), it says so on stderr and the run's outcome is unchanged.

    python -m loadtest.server_view --prometheus http://127.0.0.1:9090 --since 1764080000 \\
        --stats loadtest/results/<run>/stats_stats.csv --out loadtest/results/<run>
"""

import argparse
import csv
import datetime
import json
import sys
import time
from pathlib import Path

import httpx

from loadtest.routes import ROUTES

# How long to wait for the scrape that follows the run (scrape_interval is 5 s in prometheus.yml).
SCRAPE_WAIT_SECONDS = 30


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prometheus", required=True, help="Prometheus's base URL")
    parser.add_argument("--since", type=float, required=True, help="the run's start, Unix seconds")
    parser.add_argument("--stats", type=Path, help="Locust's stats CSV (its p95 per request name)")
    parser.add_argument("--out", type=Path, required=True, help="folder for server_view.txt and .json")
    return parser.parse_args(argv)


class Prometheus:
    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=10)

    def query(self, promql: str, at: float) -> list[dict]:
        body = self.client.get("/api/v1/query", params={"query": promql, "time": at}).json()
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus refused {promql!r}: {body.get('error')}")
        return body["data"]["result"]

    def wait_for_scrape_after(self, moment: float) -> None:
        """Until every service target has been scraped after `moment`, so the run's last requests count."""
        deadline = time.monotonic() + SCRAPE_WAIT_SECONDS
        while time.monotonic() < deadline:
            found = self.client.get("/api/v1/targets", params={"state": "active"}).json()["data"][
                "activeTargets"
            ]
            services = [t for t in found if t["labels"]["job"] in ("api", "legacy")]
            if services and all(
                datetime.datetime.fromisoformat(t["lastScrape"]).timestamp() > moment for t in services
            ):
                return
            time.sleep(1)


def during_run(metric: str, by: str, seconds: int) -> str:
    """PromQL: how much `metric` (a counter) grew during the run, summed `by` labels, exactly.

    The value at the end minus the value at the start, a series born during the run counting from
    0. (increase() would extrapolate, and miss what a series counted before its first scrape.)
    """
    now = f"sum by ({by}) ({metric})"
    return f"{now} - (sum by ({by}) ({metric} offset {seconds}s) or 0 * {now})"


def server_view(prometheus: Prometheus, since: float, until: float) -> dict:
    seconds = max(int(until - since), 1)
    buckets = during_run("http_request_duration_seconds_bucket", "job, route, method, le", seconds)
    p95 = prometheus.query(f"histogram_quantile(0.95, {buckets})", until)
    counts = during_run("http_request_duration_seconds_count", "job, route, method", seconds)
    requests = prometheus.query(counts, until)
    waiters = prometheus.query(f"max_over_time(sum by (job) (db_pool_waiters)[{seconds}s:1s])", until)

    def key(result: dict) -> tuple[str, str, str]:
        labels = result["metric"]
        return labels.get("job", ""), labels.get("route", ""), labels.get("method", "")

    counted = {key(r): round(float(r["value"][1])) for r in requests}
    routes = [
        {
            "job": job,
            "route": route,
            "method": method,
            "requests": counted.get((job, route, method), 0),
            "p95_ms": round(float(r["value"][1]) * 1000, 2) if r["value"][1] != "NaN" else None,
        }
        for r in p95
        for job, route, method in [key(r)]
        if counted.get((job, route, method), 0) > 0  # (below 0: the service restarted meanwhile)
    ]
    routes.sort(key=lambda row: (row["job"], row["route"], row["method"]))
    peak_waiters = {r["metric"].get("job", ""): round(float(r["value"][1])) for r in waiters}
    return {"since": since, "until": until, "routes": routes, "peak_pool_waiters": peak_waiters}


def locust_p95(stats: Path | None) -> dict[tuple[str, str, str], list[tuple[str, float]]]:
    """Locust's p95 by the (service, route template, method) each of its request names is served as."""
    found: dict[tuple[str, str, str], list[tuple[str, float]]] = {}
    if stats is None or not stats.exists():
        return found
    with stats.open() as f:
        for row in csv.DictReader(f):
            route = ROUTES.get((row["Type"], row["Name"]))
            if route is not None and route.served_as is not None and row["95%"] not in ("", "N/A"):
                found.setdefault((*route.served_as, route.method), []).append((route.name, float(row["95%"])))
    return found


def table(view: dict, client_side: dict[tuple[str, str, str], list[tuple[str, float]]]) -> str:
    window = int(view["until"] - view["since"])
    lines = [
        f"Server side (Prometheus, the {window} s since the run started), beside Locust's p95:",
        f"{'service':<8} {'method':<7} {'route':<30} {'requests':>9} {'p95 ms':>8}  Locust p95 ms",
    ]
    for row in view["routes"]:
        locust = client_side.get((row["job"], row["route"], row["method"]), [])
        theirs = ", ".join(f"{p95:g} ({name})" for name, p95 in locust) or "-"
        p95 = "-" if row["p95_ms"] is None else f"{row['p95_ms']:g}"
        lines.append(
            f"{row['job']:<8} {row['method']:<7} {row['route']:<30} {row['requests']:>9} {p95:>8}  {theirs}"
        )
    waiters = ", ".join(f"{job} {count}" for job, count in sorted(view["peak_pool_waiters"].items())) or "-"
    lines.append(f"Peak requests waiting for a pooled connection: {waiters}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    prometheus = Prometheus(args.prometheus)
    try:
        # The scrape after the run has its last requests; the window ends after it.
        prometheus.wait_for_scrape_after(time.time())
        view = server_view(prometheus, args.since, time.time())
    except (httpx.HTTPError, KeyError, ValueError, RuntimeError) as exc:
        print(f"server-side view skipped: no Prometheus at {args.prometheus} ({exc})", file=sys.stderr)
        return 0
    text = table(view, locust_p95(args.stats))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "server_view.txt").write_text(text + "\n")
    (args.out / "server_view.json").write_text(json.dumps(view, indent=2) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
