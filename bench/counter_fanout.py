"""Fan-out benchmark of the live counter: thousands of idle sockets, then connect/disconnect probes.

    python bench/counter_fanout.py                      # starts a native stack on free ports, runs
                                                        # against the counter directly and via nginx
    python bench/counter_fanout.py --url ws://127.0.0.1:8080/counter --database-url postgresql://...

It opens --clients sockets (default 5000) on loopback and waits until every one shows the same count.
Then each probe opens one more socket (and later closes it) and measures, from the moment the probe
starts connecting (or sends its close), until the moment the LAST of the held sockets has received
the new count: the fan-out latency a user sees. It reports p50/p99/max of both, the connections each
server process holds (from counter_presence, when it knows the database), prints a table and writes
JSON to bench/results/counter_fanout-<target>.json.

The clients are a lean asyncio protocol (handshake by hand, unmasked server frames parsed in place,
pings answered) so that one client process can hold thousands of sockets without its own Python
overhead dominating what is measured. Everything is bounded: each wait has a deadline, the whole run
has --max-seconds, and it stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import statistics
import struct
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import uvloop  # noqa: E402

from dev.stack import DEFAULT_PORTS, Stack, free_port  # noqa: E402

RESULTS = ROOT / "bench" / "results"
WAIT_SECONDS = 60.0  # longest any single step may take


class Fleet:
    """Every held socket, and how many of them already show the count being waited for."""

    def __init__(self) -> None:
        self.clients: list[CounterClient] = []
        self.target: int | None = None
        self.reached = 0
        self.first_arrival: float | None = None
        self.last_arrival = 0.0
        self.all_reached = asyncio.Event()

    def expect(self, value: int) -> None:
        self.target = value
        self.reached = sum(1 for client in self.clients if client.count == value)
        self.first_arrival = None
        self.all_reached.clear()
        self._check()

    def on_count(self, client: CounterClient, previous: int | None) -> None:
        if client.count == self.target:
            self.reached += 1
            self.last_arrival = time.monotonic()
            if self.first_arrival is None:
                self.first_arrival = self.last_arrival
            self._check()
        elif previous == self.target:
            self.reached -= 1

    def _check(self) -> None:
        if self.target is not None and self.reached == len(self.clients):
            self.all_reached.set()


class CounterClient(asyncio.Protocol):
    """A websocket client that only reads counts: enough of RFC 6455 for this server, no more."""

    def __init__(self, fleet: Fleet | None, host: str, path: str) -> None:
        self.fleet, self.host, self.path = fleet, host, path
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded = asyncio.get_running_loop().create_future()
        self.first_count = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.count: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end])
            del self.buffer[: end + 4]
            if not head.startswith(b"HTTP/1.1 101"):
                self.upgraded.set_exception(ConnectionError(head.split(b"\r\n")[0].decode()))
                return
            self.upgraded.set_result(None)
        self._read_frames()

    def _read_frames(self) -> None:
        while len(self.buffer) >= 2:
            opcode, length = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F
            start = 2
            if length == 126:
                if len(self.buffer) < 4:
                    return
                (length,) = struct.unpack_from("!H", self.buffer, 2)
                start = 4
            if len(self.buffer) < start + length:
                return
            payload = bytes(self.buffer[start : start + length])
            del self.buffer[: start + length]
            if opcode == 0x1:
                previous, self.count = self.count, int(payload)
                if not self.first_count.done():
                    self.first_count.set_result(self.count)
                if self.fleet is not None:
                    self.fleet.on_count(self, previous)
            elif opcode == 0x9:  # ping: answer, or the server drops us
                self._send(0xA, payload)
            elif opcode == 0x8:
                self._send(0x8, payload[:2])
                assert self.transport is not None
                self.transport.close()

    def _send(self, opcode: int, payload: bytes) -> None:
        # Client frames must be masked; a zero mask is a valid mask and keeps this cheap.
        assert self.transport is not None and len(payload) < 126
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)

    def close(self) -> None:
        """Send a close frame (1000) and wait for the server to end the connection."""
        self._send(0x8, struct.pack("!H", 1000))

    def connection_lost(self, exc: Exception | None) -> None:
        for future in (self.upgraded, self.first_count):
            if not future.done():
                future.set_exception(ConnectionError("connection lost"))
        if not self.closed.done():
            self.closed.set_result(None)


async def open_client(fleet: Fleet | None, url: str) -> CounterClient:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(
        lambda: CounterClient(fleet, f"{parts.hostname}:{parts.port}", parts.path or "/"), parts.hostname, parts.port
    )
    await asyncio.wait_for(client.upgraded, WAIT_SECONDS)
    return client


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


@dataclass
class Result:
    target: str
    url: str
    clients: int
    probes: int
    gap_seconds: float
    ramp_seconds: float = 0.0
    connections_per_process: dict[str, int] = field(default_factory=dict)
    connect_ms: dict[str, float] = field(default_factory=dict)
    disconnect_ms: dict[str, float] = field(default_factory=dict)
    # Until the first held socket had the new count: reaction time, before the spread of the fan-out.
    first_client_ms: dict[str, float] = field(default_factory=dict)
    timeouts: int = 0
    cpu_count: int = os.cpu_count() or 1


def summary(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {}
    ms = [s * 1000 for s in samples]
    return {
        "p50": round(statistics.median(ms), 1),
        "p99": round(percentile(ms, 99), 1),
        "max": round(max(ms), 1),
        "n": len(ms),
    }


async def settle(fleet: Fleet, probe_url: str, deadline: float) -> int:
    """The count every held socket agrees on (other users included), by asking a fresh socket."""
    while time.monotonic() < deadline:
        probe = await open_client(None, probe_url)
        value = await asyncio.wait_for(probe.first_count, WAIT_SECONDS) - 1
        probe.close()
        await asyncio.wait_for(probe.closed, WAIT_SECONDS)
        fleet.expect(value)
        try:
            await asyncio.wait_for(fleet.all_reached.wait(), 2)
            return value
        except TimeoutError:
            continue
    raise TimeoutError("the held sockets never agreed on one count")


async def presence_rows(database_url: str | None) -> dict[str, int]:
    if database_url is None:
        return {}
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT instance_id, connections FROM counter_presence"
            " WHERE heartbeat_at > now() - interval '5 s' ORDER BY instance_id"
        )
    finally:
        await connection.close()
    return {row["instance_id"]: row["connections"] for row in rows}


async def run(
    target: str, url: str, clients: int, probes: int, gap: float, database_url: str | None, max_seconds: float
) -> Result:
    deadline = time.monotonic() + max_seconds
    result = Result(target=target, url=url, clients=clients, probes=probes, gap_seconds=gap)
    fleet = Fleet()
    # Connect in waves: a bounded number of handshakes in flight, like a crowd rather than a SYN flood.
    started = time.monotonic()
    in_flight = asyncio.Semaphore(100)

    async def join() -> None:
        async with in_flight:
            fleet.clients.append(await open_client(fleet, url))

    await asyncio.gather(*(join() for _ in range(clients)))
    base = await settle(fleet, url, deadline)
    result.ramp_seconds = round(time.monotonic() - started, 2)
    await asyncio.sleep(1.5)  # a heartbeat: every row is rewritten with its current count
    result.connections_per_process = await presence_rows(database_url)

    connects: list[float] = []
    disconnects: list[float] = []
    firsts: list[float] = []
    for _ in range(probes):
        if time.monotonic() > deadline:
            break
        for samples, expected in ((connects, base + 1), (disconnects, base)):
            # Apart by more than the server's broadcast pause: each probe measures a lone change,
            # not one coalesced with the previous (that is the churn case: --gap 0 shows it).
            await asyncio.sleep(gap)
            fleet.expect(expected)
            start = time.monotonic()
            if expected > base:
                probe = await open_client(None, url)
            else:
                probe.close()
            try:
                await asyncio.wait_for(fleet.all_reached.wait(), WAIT_SECONDS)
                samples.append(max(0.0, fleet.last_arrival - start))
                firsts.append(max(0.0, (fleet.first_arrival or start) - start))
            except TimeoutError:
                result.timeouts += 1
                base = await settle(fleet, url, deadline)
                break
        await asyncio.wait_for(probe.closed, WAIT_SECONDS)

    result.connect_ms = summary(connects)
    result.disconnect_ms = summary(disconnects)
    result.first_client_ms = summary(firsts)
    for client in fleet.clients:
        assert client.transport is not None
        client.transport.close()
    return result


def raise_open_files_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise SystemExit(f"RLIMIT_NOFILE hard limit {hard} < {needed} needed; raise it (ulimit -Hn)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def print_table(results: list[Result]) -> None:
    print(f"\n{'target':<8} {'clients':>7} {'ramp s':>7} {'connect p50/p99/max ms':>24} "
          f"{'disconnect p50/p99/max ms':>26} {'first p50':>9} {'timeouts':>8}  connections per process")
    for r in results:
        c, d = r.connect_ms, r.disconnect_ms
        per_process = " ".join(str(n) for n in r.connections_per_process.values()) or "-"
        print(f"{r.target:<8} {r.clients:>7} {r.ramp_seconds:>7} "
              f"{c.get('p50', '-'):>8}/{c.get('p99', '-')}/{c.get('max', '-'):<8} "
              f"{d.get('p50', '-'):>9}/{d.get('p99', '-')}/{d.get('max', '-'):<9} "
              f"{r.first_client_ms.get('p50', '-'):>9} {r.timeouts:>8}  {per_process}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--probes", type=int, default=100, help="connect+disconnect events measured")
    parser.add_argument("--gap", type=float, default=0.3, help="seconds between probe events")
    parser.add_argument("--url", help="websocket URL to test; default: start a native stack and test both paths")
    parser.add_argument("--target", default="custom", help="name for --url in the table and result file")
    parser.add_argument("--database-url", help="with --url: where to read connections per process")
    parser.add_argument("--workers", type=int, default=2, help="counter processes of the stack it starts")
    parser.add_argument("--max-seconds", type=float, default=240, help="per target, ramp-up included")
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    args = parser.parse_args()
    raise_open_files_limit(args.clients * 2 + 256)

    stack: Stack | None = None
    if args.url:
        targets = [(args.target, args.url)]
        database_url = args.database_url
    else:
        state = Path(tempfile.mkdtemp(prefix="counter-bench-"))
        stack = Stack(state, ports={name: free_port() for name in DEFAULT_PORTS}, workers=args.workers)
        print(f"starting a native stack ({args.workers} counter processes) in {state}", file=sys.stderr)
        stack.start()
        database_url = stack.database_url("counter", with_password=True)
        direct = stack.service_url("counter").replace("http", "ws", 1) + "/"
        targets = [("direct", direct), ("nginx", stack.http_url.replace("http", "ws", 1) + "/counter")]

    results = []
    try:
        for name, url in targets:
            print(f"{name}: {args.clients} sockets to {url}, {args.probes} probes", file=sys.stderr)
            result = uvloop.run(run(name, url, args.clients, args.probes, args.gap, database_url, args.max_seconds))
            results.append(result)
            args.output_dir.mkdir(parents=True, exist_ok=True)
            path = args.output_dir / f"counter_fanout-{name}.json"
            path.write_text(json.dumps(asdict(result), indent=2) + "\n")
            print(f"wrote {path}", file=sys.stderr)
            time.sleep(2)  # the closed sockets leave before the next target starts
    finally:
        if stack is not None:
            stack.stop()
    print_table(results)
    return 1 if any(r.timeouts for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
