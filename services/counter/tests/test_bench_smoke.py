"""The fan-out benchmark runs end to end with a small count (its numbers are judged elsewhere)."""

import asyncio
import json
import sys
from pathlib import Path

from websockets.asyncio.client import connect

from dev.stack import ROOT

CLIENTS = 40


def test_fanout_benchmark_runs_and_writes_its_result(ws_url: str, tmp_path: Path) -> None:
    async def run_beside_an_observer() -> tuple[int, bytes, bytes, int, int]:
        """The benchmark, while a socket of ours watches the count it causes."""
        async with connect(ws_url, open_timeout=10) as observer:
            before = int(await asyncio.wait_for(observer.recv(), 10))
            while True:  # until a second passes without a change: sockets of earlier tests are gone
                try:
                    before = int(await asyncio.wait_for(observer.recv(), 1))
                except TimeoutError:
                    break
            peak = before

            async def watch() -> None:
                nonlocal peak
                async for message in observer:
                    peak = max(peak, int(message))

            watcher = asyncio.create_task(watch())
            bench = await asyncio.create_subprocess_exec(
                sys.executable, str(ROOT / "bench" / "counter_fanout.py"), "--clients", str(CLIENTS),
                "--probes", "5", "--url", ws_url, "--target", "smoke", "--max-seconds", "60",
                "--output-dir", str(tmp_path),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            stdout, stderr = await asyncio.wait_for(bench.communicate(), 120)
            watcher.cancel()
            return bench.returncode, stdout, stderr, before, peak

    returncode, stdout, stderr, before, peak = asyncio.run(run_beside_an_observer())
    assert returncode == 0, stderr.decode()[-2000:]
    result = json.loads((tmp_path / "counter_fanout-smoke.json").read_text())
    # The sockets were really held: everyone saw them, plus the one probe open at a time.
    assert peak == before + CLIENTS + 1, (before, peak)
    assert result["clients"] == CLIENTS and result["timeouts"] == 0
    assert result["connect_ms"]["n"] == result["disconnect_ms"]["n"] == 5
    assert 0 < result["connect_ms"]["p50"] <= result["connect_ms"]["p99"]
    assert result["cpu_ms_per_change_per_1000_sockets"]["clients"] >= 0  # its own processes' CPU
    assert "smoke" in stdout.decode()  # the table
