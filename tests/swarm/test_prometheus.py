"""Prometheus on the swarm (deploy/swarm/observability.yaml), seen through its HTTP API the way the
README tells an operator to reach it: `docker exec` into its task, `promtool query instant` against
127.0.0.1:9090 (it publishes no port). Every replica and every node's nginx is a target, a request is
counted once across replicas, and a replica scaled out is found by itself. Figures are printed."""

import json
import time

import httpx
import pytest

from tests.swarm.cluster import Cluster
from tests.swarm.test_swarm import figure, wait_until
from tests.test_metrics import SETTLE_SECONDS
from tests.test_prometheus_live import QUIET_ROUTES

pytestmark = pytest.mark.swarm
APP = ("api", "legacy", "counter")


class Prometheus:
    """promtool inside the Prometheus task, on whichever node it runs."""

    def __init__(self, cluster: Cluster, service: str) -> None:
        self.cluster = cluster
        found = []
        for node in range(len(cluster.node_ips)):
            out = cluster.on(node, "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={service}")
            found += [(node, container) for container in out.split()]
        [(self.node, self.container)] = found

    def query(self, promql: str) -> list[dict]:
        out = self.cluster.on(self.node, "exec", self.container, "promtool", "query", "instant", "-o", "json",
                              "http://127.0.0.1:9090", promql, timeout=30)
        return json.loads(out) if out.strip() else []

    def by(self, promql: str, *labels: str) -> dict[tuple[str, ...], float]:
        return {tuple(r["metric"].get(label, "") for label in labels): float(r["value"][1]) for r in self.query(promql)}

    def up(self, job: str) -> dict[str, float]:
        """Each target of the job (its instance) and whether its last scrape worked."""
        return {instance: value for (instance,), value in self.by(f'up{{job="{job}"}}', "instance").items()}

    def scrape_again(self, jobs: str) -> None:
        """Until every target of the jobs (a regex) has been scraped since now."""
        now = time.time()
        # By job and instance: without labels, by() would fold every target into one key.
        scraped = f'timestamp(up{{job=~"{jobs}"}})'
        wait_until(lambda: min(self.by(scraped, "job", "instance").values() or [0]) > now,
                   30, lambda: f"{jobs} not scraped again")


@pytest.fixture(scope="module")
def prometheus(cluster: Cluster, stack: str) -> Prometheus:
    return Prometheus(cluster, f"{stack}_prometheus")


def test_every_replica_and_every_nodes_nginx_is_a_target_and_up(
    prometheus: Prometheus, cluster: Cluster, stack: str
) -> None:
    expected = {job: len(cluster.running_tasks(f"{stack}_{job}")) for job in APP}
    expected |= {"nginx": len(cluster.node_ips), "postgres": 1, "prometheus": 1}

    def targets() -> dict[str, dict[str, float]]:
        return {job: prometheus.up(job) for job in expected}

    def all_up() -> bool:
        found = targets()
        return all(len(found[job]) == count and set(found[job].values()) == {1.0} for job, count in expected.items())

    waited = wait_until(all_up, 90, lambda: f"expected {expected} targets up, found {targets()}")
    # The exporters reach what they export: each node's nginx, PostgreSQL as the monitor role.
    assert list(prometheus.by("nginx_up", "instance").values()) == [1.0] * len(cluster.node_ips)
    assert list(prometheus.by("pg_up").values()) == [1.0]
    # The same rules as compose, loaded from the configs.
    groups = prometheus.by("prometheus_rule_group_rules", "rule_group")
    assert {group.rsplit("/", 1)[1]: rules for (group,), rules in groups.items()} == {
        "alerts.yml;stack": 4, "recording.yml;http": 6, "recording.yml;pool": 2}
    figure(f"Prometheus on the swarm: {sum(expected.values())} targets, all up ({expected}; "
           f"waited {waited:.1f} s for them)")


def test_each_nginx_exporter_reads_its_own_nodes_nginx(prometheus: Prometheus, node_urls: list[str]) -> None:
    """40, 80 and 120 requests to the three nodes' nginx: three targets, each moved by one of those."""
    counts = "nginx_http_requests_total"
    prometheus.scrape_again("nginx")
    before = prometheus.by(counts, "instance")
    sent = [40 * (index + 1) for index in range(len(node_urls))]
    for url, requests in zip(node_urls, sent):
        with httpx.Client(base_url=url, timeout=10) as http:
            for _ in range(requests):
                http.get("/")
    prometheus.scrape_again("nginx")
    after = prometheus.by(counts, "instance")
    assert len(after) == len(node_urls)
    moved = sorted(after[instance] - before.get(instance, 0) for instance in after)
    # Besides ours, each nginx answers its healthcheck and the exporter's reads (one each per 5 s).
    for requests, rose in zip(sent, moved):
        assert requests <= rose < requests + 30, (sent, moved)
    figure(f"nginx requests sent to the 3 nodes {sent}, seen by their exporters {moved}")


def test_a_request_counts_once_across_replicas(prometheus: Prometheus, node_urls: list[str]) -> None:
    promql = "sum by (job, route, method, status) (http_request_duration_seconds_count)"
    time.sleep(SETTLE_SECONDS)  # the replicas' workers have written every request so far
    prometheus.scrape_again("api|legacy")
    before = prometheus.by(promql, "job", "route", "method", "status")
    sent = []
    with httpx.Client(base_url=node_urls[0], timeout=10) as http:
        for job, routes in QUIET_ROUTES.items():
            for method, path, route in routes:
                sent.append((job, route, method, str(http.request(method, path).status_code)))
    time.sleep(SETTLE_SECONDS)
    prometheus.scrape_again("api|legacy")
    after = prometheus.by(promql, "job", "route", "method", "status")
    counted = {key: after.get(key, 0) - before.get(key, 0) for key in sent}
    assert all(times == 1 for times in counted.values()), counted
    figure(f"{len(sent)} requests of every route through nginx, each counted once across 2 replicas")


def test_a_replica_scaled_out_becomes_a_target(prometheus: Prometheus, cluster: Cluster, stack: str) -> None:
    service = f"{stack}_api"

    def up_targets() -> int:
        return sum(1 for value in prometheus.up("api").values() if value == 1.0)

    assert up_targets() == 2
    # Timed from the scale command: it returns once the new task is running and healthy.
    started = time.monotonic()
    cluster.on(0, "service", "scale", "--detach=false", f"{service}=3", timeout=300)
    try:
        ready = time.monotonic() - started
        wait_until(lambda: up_targets() == 3, 60, lambda: f"api targets: {prometheus.up('api')}")
        figure(f"api scaled 2 → 3: the new replica healthy after {ready:.1f} s, "
               f"a target and up after {time.monotonic() - started:.1f} s")
    finally:
        started = time.monotonic()
        cluster.on(0, "service", "scale", "--detach=false", f"{service}=2", timeout=300)
    wait_until(lambda: len(prometheus.up("api")) == 2, 60, lambda: f"api targets: {prometheus.up('api')}")
    figure(f"api scaled back to 2: the removed replica no longer a target after {time.monotonic() - started:.1f} s")
