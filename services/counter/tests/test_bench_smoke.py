"""The fan-out benchmark runs end to end with a small count (its numbers are judged elsewhere)."""

import json
import subprocess
import sys
from pathlib import Path

from dev.stack import ROOT


def test_fanout_benchmark_runs_and_writes_its_result(ws_url: str, tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "counter_fanout.py"), "--clients", "40", "--probes", "5",
         "--url", ws_url, "--target", "smoke", "--max-seconds", "60", "--output-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    result = json.loads((tmp_path / "counter_fanout-smoke.json").read_text())
    assert result["clients"] == 40 and result["timeouts"] == 0
    assert result["connect_ms"]["n"] == result["disconnect_ms"]["n"] == 5
    assert 0 < result["connect_ms"]["p50"] <= result["connect_ms"]["p99"]
    assert "smoke" in completed.stdout  # the table
