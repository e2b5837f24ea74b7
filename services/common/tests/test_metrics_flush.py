"""What stack_common.metrics_flush writes for prometheus_client: a flush of LocalHistogram adds up to what
Histogram.observe would have written (it uses the client's internals, so this fails if they change),
in the default mode and in multiprocess mode as the workers run it; a gauge is written only when its
value changed; and a worker's numbers still waiting for their flush are written when it exits."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Histogram, multiprocess
from stack_common.metrics_flush import ChangedGauges, LocalHistogram

BUCKETS = (0.001, 0.01, 0.1, 1.0)
# Below, on and between the bounds, past the last one, and zero.
VALUES = (0.0, 0.0005, 0.001, 0.0011, 0.01, 0.05, 0.1, 0.99, 1.0, 1.5, 250.0)


def samples(registry: CollectorRegistry, name: str) -> dict[str, float]:
    """Every sample of the histogram `name`, by its suffix and labels, the name itself left out."""
    return {
        f"{sample.name.removeprefix(name)}{sorted(sample.labels.items())}": sample.value
        for family in registry.collect()
        if family.name == name
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


class CountedGauge:
    """Stands in for a Gauge: the values set on it, in order."""

    def __init__(self) -> None:
        self.set_to: list[float] = []

    def set(self, value: float) -> None:
        self.set_to.append(value)


def test_gauges_are_written_only_when_their_value_changed() -> None:
    sockets, heartbeat = CountedGauge(), CountedGauge()
    gauges = ChangedGauges((sockets, heartbeat), written=(0, None))
    gauges.write(0, None)  # as written, and not known yet: nothing to write
    gauges.write(3, None)
    gauges.write(3, 1700000000.0)
    gauges.write(3, 1700000000.0)
    gauges.write(0, 1700000005.0)
    assert sockets.set_to == [3, 0]
    assert heartbeat.set_to == [1700000000.0, 1700000005.0]


def test_a_flush_writes_what_observe_would_have_written() -> None:
    registry = CollectorRegistry()
    observed = Histogram("observed", "by observe()", ["read"], buckets=BUCKETS, registry=registry)
    flushed = Histogram("flushed", "by LocalHistogram", ["read"], buckets=BUCKETS, registry=registry)
    local = LocalHistogram(flushed.labels("brands"), BUCKETS)
    for value in VALUES:
        observed.labels("brands").observe(value)
        local.observe(value)
    local.write()
    local.write()  # nothing new: adds nothing
    assert samples(registry, "flushed") == samples(registry, "observed")
    assert samples(registry, "flushed")["_count[('read', 'brands')]"] == len(VALUES)


# Run in a process of its own: multiprocess mode is chosen when prometheus_client is imported.
MULTIPROCESS = """
import json, sys
from prometheus_client import CollectorRegistry, Histogram, multiprocess
from stack_common.metrics_flush import ChangedGauges, LocalHistogram
buckets, values = json.loads(sys.argv[1]), json.loads(sys.argv[2])
observed = Histogram("observed", "by observe()", ["read"], buckets=buckets)
flushed = Histogram("flushed", "by LocalHistogram", ["read"], buckets=buckets)
local = LocalHistogram(flushed.labels("brands"), buckets)
for value in values:
    observed.labels("brands").observe(value)
    local.observe(value)
local.write()
registry = CollectorRegistry()
multiprocess.MultiProcessCollector(registry)
found = {}
for family in registry.collect():
    for s in family.samples:
        found.setdefault(family.name, {})[f"{s.name.removeprefix(family.name)}{sorted(s.labels.items())}"] = s.value
print(json.dumps(found))
"""


def run_in_multiprocess_mode(tmp_path: Path, code: str, *args: str) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_in_multiprocess_mode_a_flush_writes_what_observe_would_have(tmp_path: Path) -> None:
    found = json.loads(
        run_in_multiprocess_mode(tmp_path, MULTIPROCESS, json.dumps(BUCKETS), json.dumps(VALUES))
    )
    assert found["flushed"] == found["observed"]
    assert found["flushed"]["_count[('read', 'brands')]"] == len(VALUES)


# A worker that answers requests and exits before its flush timer runs, as gunicorn stops one:
# the event loop ends, then the interpreter.
EXITING_WORKER = """
import asyncio
from stack_common.metrics import HttpMetrics

async def serve() -> None:
    http = HttpMetrics()
    for _ in range(5):
        http.finished(http.started(), "/brands", "GET", 200)

asyncio.run(serve())
"""


def test_a_workers_last_numbers_are_written_when_it_exits(tmp_path: Path) -> None:
    run_in_multiprocess_mode(tmp_path, EXITING_WORKER)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(tmp_path))
    counts = {
        sample.labels["route"]: sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name == "http_request_duration_seconds_count"
    }
    assert counts == {"/brands": 5}


@pytest.mark.parametrize("name", ["_buckets", "_sum"])
def test_the_internals_the_flush_uses_are_there(name: str) -> None:
    """A clearer message than the comparisons above when a prometheus_client upgrade moved them."""
    child = Histogram("probe", "probe", buckets=BUCKETS, registry=CollectorRegistry())
    assert hasattr(child, name), f"prometheus_client's Histogram has no {name}: see LocalHistogram.write"
