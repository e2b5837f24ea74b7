"""The fan-out benchmark runs end to end with a small count (its numbers are judged elsewhere)."""

import asyncio
import json
import multiprocessing
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
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
                "--probes", "5", "--idle-seconds", "1", "--url", ws_url, "--target", "smoke",
                "--max-seconds", "60", "--output-dir", str(tmp_path),
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
    # and theirs with no change, measured before the probes and taken off the figure per change
    assert result["idle_cpu_ms_per_second_per_1000_sockets"]["clients"] >= 0
    assert "clients" in result["cpu_ms_per_change_per_1000_sockets_net_of_idle"]
    assert "smoke" in stdout.decode()  # the table


def test_the_benchmarks_held_sockets_read_every_frame_and_answer_pings() -> None:
    """The holder's lean client against a scripted server: a count that comes with the handshake's
    answer, a ping (which must be answered, or the real server drops the socket), a count split
    over two reads."""
    from bench.counter_fanout import HeldFleet

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    orders, holder_end = multiprocessing.Pipe()
    fleet = HeldFleet(holder_end, f"ws://127.0.0.1:{port}/counter", 1)
    holder = threading.Thread(target=fleet.run, daemon=True)
    holder.start()

    def reply() -> tuple:
        assert orders.poll(5), "no answer from the holder"
        return orders.recv()

    conn, _ = listener.accept()
    conn.settimeout(5)
    head = b""
    while b"\r\n\r\n" not in head:
        head += conn.recv(4096)
    assert head.startswith(b"GET /counter HTTP/1.1\r\n") and b"Sec-WebSocket-Key: " in head
    answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    conn.sendall(answer + b"\x81\x013")  # the first count in the same packet as the answer
    assert reply() == ("opened", 1, 0, {})
    orders.send(("expect", 3, 5))
    assert reply() == ("armed",)
    assert reply()[0] == "reached"

    orders.send(("expect", 42, 5))
    assert reply() == ("armed",)
    conn.sendall(b"\x89\x02hi")  # a ping
    assert conn.recv(64) == b"\x8a\x82\0\0\0\0hi"  # its pong: masked (a zero mask), the same payload
    conn.sendall(b"\x81")
    time.sleep(0.2)  # the holder reads the frame's first byte alone
    conn.sendall(b"\x0242")
    assert reply()[0] == "reached"
    orders.send(("close",))
    holder.join(5)
    assert not holder.is_alive()
    conn.close()
    listener.close()


@pytest.mark.native  # runs nginx from the host's packages, as the native stack does
def test_the_floor_benchmark_runs_direct_and_through_nginx() -> None:
    """bench/counter_floor.py end to end with a few sockets: every client parses every round's
    number (or the run fails), and it reports each party's CPU."""
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "counter_floor.py"), "--clients", "40", "--per-process", "20",
         "--rounds", "3", "--gap", "0.05", "--max-seconds", "60"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    lines = {line.split(":")[0]: line for line in run.stdout.splitlines()}
    assert "40 sockets" in lines["direct"] and "clients" in lines["direct"]
    assert "40 sockets" in lines["nginx"] and "nginx" in lines["nginx"].split("CPU")[1]
