"""Fan-out benchmark of the live counter: thousands of idle sockets, then connect/disconnect probes.

    python bench/counter_fanout.py                      # starts a native stack on free ports, runs
                                                        # against the counter directly and via nginx
    python bench/counter_fanout.py --url ws://127.0.0.1:8080/counter --database-url postgresql://...

It opens --clients sockets (default 5000) on loopback, spread over holder processes of at most
--per-process sockets each (every process may hold at most 20,000 descriptors here), and waits until
every one shows the same count.
Then each probe opens one more socket (and later closes it) and measures, from the moment the probe
starts connecting (or sends its close), until the moment the LAST of the held sockets has received
the new count: the fan-out latency a user sees. It reports p50/p99/max of both, the connections each
server process holds (from counter_presence, when it knows the database) and, for the stack it starts,
the memory each held socket costs the counter and nginx (growth of their resident memory over the
ramp-up, per socket). It also reports the stages of the latency (when the change is NOTIFYed to the
other processes, when the first held socket has it; for the stack it starts, how long a change
waited for its broadcast and how long one took) and the CPU time the counter, nginx and its own
client processes spent per change and per 1,000 held sockets. --mix-seconds runs the load test's mix
(bench/mix.lua, wrk) through nginx during the probes. It prints a table and writes JSON to
bench/results/counter_fanout-<target>.json.

The clients are a lean asyncio protocol (handshake by hand, unmasked server frames parsed in place,
pings answered) so that one client process can hold thousands of sockets without its own Python
overhead dominating what is measured. Everything is bounded: each wait has a deadline, the whole run
has --max-seconds, and it stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import multiprocessing
import multiprocessing.connection
import os
import random
import resource
import select
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import uvloop  # noqa: E402
from stack_common.metrics_flush import FLUSH_SECONDS  # noqa: E402

from dev.stack import DEFAULT_PORTS, Stack, free_port  # noqa: E402

RESULTS = ROOT / "bench" / "results"
MIX_SCRIPT = ROOT / "bench" / "mix.lua"
WAIT_SECONDS = 60.0  # longest any single step may take
P99_TARGET_MS = 250  # the project's target for the fan-out
JOIN_ATTEMPTS = 5  # connects per held socket during the ramp-up


class CounterClient(asyncio.Protocol):
    """The probe: a websocket client that only reads counts, enough of RFC 6455 for this server."""

    def __init__(self, host: str, path: str) -> None:
        self.host, self.path = host, path
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded = asyncio.get_running_loop().create_future()
        self.first_count = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        for future in (self.upgraded, self.first_count):  # a lost connection fails both; may go unread
            future.add_done_callback(lambda done: done.cancelled() or done.exception())
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
                self._on_count(int(payload))
            elif opcode == 0x9:  # ping: answer, or the server drops us
                self._send(0xA, payload)
            elif opcode == 0x8:
                self._send(0x8, payload[:2])
                assert self.transport is not None
                self.transport.close()

    def _on_count(self, count: int) -> None:
        self.count = count
        if not self.first_count.done():
            self.first_count.set_result(count)

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


async def open_client(url: str) -> CounterClient:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(
        lambda: CounterClient(f"{parts.hostname}:{parts.port}", parts.path or "/"), parts.hostname, parts.port
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
    # Until the change was NOTIFYed by the process that has the probe (heard by a listener of ours):
    # when the other processes learn of it (with --database-url, or the stack it starts).
    notify_ms: dict[str, float] = field(default_factory=dict)
    # The counter's own fan-out (its metrics, for the stack it starts): broadcasts during the probes,
    # the mean time a change waited for one (the pause after the previous), and the mean time one
    # took to hand the count to every socket of its process.
    broadcasts: int = 0
    broadcast_delay_mean_ms: float = 0.0
    broadcast_mean_ms: float = 0.0
    # CPU time (user + system) each part spent during the probes, per change and per 1,000 held
    # sockets: the fan-out's cost, which unlike its latency does not depend on the machine's other load
    # (the mix's own requests count too when --mix-seconds runs).
    cpu_ms_per_change_per_1000_sockets: dict[str, float] = field(default_factory=dict)
    # What the held sockets cost each part with no change at all (the server's pings every 20 s and
    # their pongs, relayed by nginx; the presence heartbeats), measured over --idle-seconds (20) before the
    # probes, per second and per 1,000 held sockets; and the CPU per change net of it (the idle rate
    # times the probes' duration taken off): what a change itself costs.
    idle_cpu_ms_per_second_per_1000_sockets: dict[str, float] = field(default_factory=dict)
    cpu_ms_per_change_per_1000_sockets_net_of_idle: dict[str, float] = field(default_factory=dict)
    timeouts: int = 0
    handshake_retries: int = 0  # connects refused (ramp-up and probes) and tried again
    # The ramp-up's refused connects by what they got: an HTTP status, or "closed" (reset or closed
    # before an answer) or "unconnected". A 500 is an error of the stack's own (nginx out of
    # worker_connections once did it), never a slow counter's (502, 504).
    refused_by_answer: dict[str, int] = field(default_factory=dict)
    memory_bytes_per_socket: dict[str, int] = field(default_factory=dict)  # counter, nginx
    mix: dict[str, float] = field(default_factory=dict)  # the load test's mix meanwhile (--mix-seconds)
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


class Holder:
    """A process holding part of the fleet, driven over a pipe: open n sockets; arm for a count and
    report when its last (and first) socket showed it; close everything and exit."""

    def __init__(self, url: str, clients: int, pause: float) -> None:
        self.pipe, child = multiprocessing.Pipe()
        # Forked before the parent runs an event loop (the child runs none: a plain epoll loop).
        self.process = multiprocessing.get_context("fork").Process(
            target=hold, args=(child, url, clients, pause), daemon=True
        )
        self.process.start()
        child.close()
        self.replies: asyncio.Queue = asyncio.Queue()
        asyncio.get_running_loop().add_reader(self.pipe.fileno(), self._read)

    def _read(self) -> None:
        try:
            self.replies.put_nowait(self.pipe.recv())
        except EOFError:
            asyncio.get_running_loop().remove_reader(self.pipe.fileno())
            self.replies.put_nowait(("gone",))

    async def reply(self, timeout: float = WAIT_SECONDS) -> tuple:
        message = await asyncio.wait_for(self.replies.get(), timeout)
        if message[0] == "gone":
            raise ConnectionError(f"holder process {self.process.pid} exited")
        return message

    def send(self, *message: object) -> None:
        self.pipe.send(message)

    def stop(self) -> None:
        asyncio.get_running_loop().remove_reader(self.pipe.fileno())
        with contextlib.suppress(OSError):
            self.send("close")
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()


def hold(pipe: multiprocessing.connection.Connection, url: str, clients: int, pause: float) -> None:
    raise_open_files_limit(clients + 256)
    HeldFleet(pipe, url, clients, pause).run()


# Where a held socket is: its TCP connect in flight, its handshake's answer awaited, open, or gone
# (closed by the server or lost: it never has the next count, so the probe waiting for it times out).
CONNECTING, UPGRADING, OPEN, GONE = range(4)
IN_FLIGHT = 50  # handshakes at a time per holder: a crowd rather than a SYN flood


class HeldSocket:
    __slots__ = ("attempts", "buffer", "count", "deadline", "fd", "sock", "state")

    def __init__(self, attempts: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.fd = self.sock.fileno()
        self.state = CONNECTING
        self.buffer = b""
        self.count: int | None = None
        self.attempts = attempts
        self.deadline = time.monotonic() + WAIT_SECONDS


class HeldFleet:
    """One holder process's sockets, read by a plain epoll loop, driven over a pipe: open them all
    (answering "opened"), then for each ("expect", value, timeout) answer "armed", and "reached"
    with the first and last arrival of `value` once every socket has it (or "timeout").

    Every frame is read and parsed — a count, a ping (answered with a pong, or the server drops the
    socket), a close (answered) — and nothing else runs per frame. These processes share the two
    cores with the server and nginx, so their cost per frame delays what they measure; most of it
    was being woken for every few frames, which `pause` cuts (bench/README.md).
    """

    def __init__(
        self, pipe: multiprocessing.connection.Connection, url: str, clients: int, pause: float = 0.0
    ) -> None:
        parts = urlsplit(url)
        assert parts.hostname is not None and parts.port is not None
        self.address = (parts.hostname, parts.port)
        self.request = (
            f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "
        )
        self.pipe, self.clients, self.pause = pipe, clients, pause
        self.poller = select.epoll()
        self.by_fd: dict[int, HeldSocket] = {}
        self.held: list[HeldSocket] = []  # upgraded, in the order they opened
        self.upgrading: set[HeldSocket] = set()
        self.unstarted = clients
        self.retry_at: list[tuple[float, int]] = []  # (when, attempts so far) of refused joins
        self.retries = 0
        self.refused_by_answer: dict[str, int] = {}
        self.target: int | None = None
        self.reached = 0
        self.first: float | None = None
        self.last = 0.0
        self.report_by: float | None = None  # an armed expectation's deadline, until it is answered

    def run(self) -> None:
        pipe_fd = self.pipe.fileno()
        self.poller.register(pipe_fd, select.EPOLLIN)
        while True:
            self._start_joins()
            events = self.poller.poll(0.1)
            for fd, _ in events:
                held = self.by_fd.get(fd)
                if held is not None:
                    if held.state == OPEN:
                        self._read(held)
                    elif held.state == CONNECTING:
                        self._connected(held)
                    else:
                        self._read_head(held)
                elif fd == pipe_fd and not self._command(self.pipe.recv()):
                    for held in self.held:
                        held.sock.close()
                    return
            self._check_deadlines()
            if events and self.pause:
                # Let more frames queue up before the next read: a fan-out reaches a holder's
                # sockets over hundreds of ms, and waking for every few of them cost the holders
                # more CPU (task switches) than reading them. An arrival is timed when read, so at
                # most this late: the latency measured errs long, never short.
                time.sleep(self.pause)

    # -- the ramp-up: connect, upgrade, retry a refused join after a pause, as a page would ----------
    def _start_joins(self) -> None:
        now = time.monotonic()
        while len(self.upgrading) < IN_FLIGHT:
            if self.retry_at and self.retry_at[0][0] <= now:
                attempts = self.retry_at.pop(0)[1]
            elif self.unstarted:
                self.unstarted, attempts = self.unstarted - 1, 0
            else:
                return
            held = HeldSocket(attempts)
            self.upgrading.add(held)
            self.by_fd[held.fd] = held
            held.sock.connect_ex(self.address)  # EINPROGRESS; epoll says when it is done
            self.poller.register(held.fd, select.EPOLLOUT)

    def _connected(self, held: HeldSocket) -> None:
        error = held.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            self._refused(held, "unconnected")
            return
        held.state = UPGRADING
        key = base64.b64encode(os.urandom(16)).decode()
        held.sock.send(f"{self.request}{key}\r\n\r\n".encode())  # a few hundred bytes, empty buffer
        self.poller.modify(held.fd, select.EPOLLIN)

    @staticmethod
    def _recv(held: HeldSocket) -> bytes | None:
        """What the socket has (b"" once it is closed or reset), or None if nothing after all."""
        try:
            return held.sock.recv(4096)
        except BlockingIOError:
            return None
        except OSError:
            return b""

    def _read_head(self, held: HeldSocket) -> None:
        data = self._recv(held)
        if data is None:
            return
        held.buffer += data
        end = held.buffer.find(b"\r\n\r\n")
        if not data:
            self._refused(held, "closed")
        elif end >= 0 and not held.buffer.startswith(b"HTTP/1.1 101"):
            # nginx answers 502/504 when the counter is slow to accept
            self._refused(held, held.buffer.split(b" ", 2)[1].decode("latin-1"))
        elif end >= 0:
            held.buffer = held.buffer[end + 4 :]
            held.state = OPEN
            self.upgrading.discard(held)
            self.held.append(held)
            if held.buffer:  # the first count came with the answer
                self._frames(held)
            if len(self.held) == self.clients:
                self.pipe.send(("opened", len(self.held), self.retries, self.refused_by_answer))

    def _refused(self, held: HeldSocket, answer: str) -> None:
        self.refused_by_answer[answer] = self.refused_by_answer.get(answer, 0) + 1
        self._drop(held)
        self.upgrading.discard(held)
        if held.attempts + 1 >= JOIN_ATTEMPTS:
            raise ConnectionError(
                f"{JOIN_ATTEMPTS} attempts to open a socket to {self.address} failed; "
                f"refused connects so far by answer: {self.refused_by_answer}"
            )
        self.retries += 1
        self.retry_at.append((time.monotonic() + 0.5 + random.random(), held.attempts + 1))
        self.retry_at.sort()

    def _drop(self, held: HeldSocket) -> None:
        self.poller.unregister(held.fd)
        del self.by_fd[held.fd]
        held.sock.close()
        held.state = GONE

    # -- the counts ----------------------------------------------------------------------------------
    def _read(self, held: HeldSocket) -> None:
        data = self._recv(held)
        if data is None:
            return
        if not data:
            self._drop(held)  # it never sees the next count: the expectation times out
            return
        # Nearly every read is one whole unmasked text frame of a short payload, alone: the count.
        if not held.buffer and len(data) > 2 and data[0] == 0x81 and data[1] == len(data) - 2 < 126:
            self._on_count(held, int(data[2:]))
            return
        held.buffer += data
        self._frames(held)

    def _frames(self, held: HeldSocket) -> None:
        buffer = held.buffer
        while len(buffer) >= 2:
            opcode, length, start = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    break
                (length,) = struct.unpack_from("!H", buffer, 2)
                start = 4
            if len(buffer) < start + length:
                break
            payload, buffer = buffer[start : start + length], buffer[start + length :]
            if opcode == 0x1:
                self._on_count(held, int(payload))
            elif opcode == 0x9:  # ping: answered, or the server drops us
                self._send(held, 0xA, payload)
            elif opcode == 0x8:  # the server closes: answer, and it ends the connection
                self._send(held, 0x8, payload[:2])
        held.buffer = buffer

    @staticmethod
    def _send(held: HeldSocket, opcode: int, payload: bytes) -> None:
        # Client frames must be masked; a zero mask is a valid mask and keeps this cheap.
        with contextlib.suppress(OSError):
            held.sock.send(bytes([0x80 | opcode, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)

    def _on_count(self, held: HeldSocket, count: int) -> None:
        previous, held.count = held.count, count
        if count == self.target and previous != count:
            self.reached += 1
            self.last = time.monotonic()
            if self.first is None:
                self.first = self.last
            if self.reached == self.clients and self.report_by is not None:
                self.report_by = None
                self.pipe.send(("reached", self.first, self.last))
        elif previous == self.target and count != previous:
            self.reached -= 1

    # -- orders from the parent ----------------------------------------------------------------------
    def _command(self, command: tuple) -> bool:
        if command[0] == "close":
            return False
        _, value, timeout = command
        self.target, self.first = value, None
        self.reached = sum(1 for held in self.held if held.count == value)
        self.report_by = time.monotonic() + timeout
        self.pipe.send(("armed",))
        if self.reached == self.clients:
            self.report_by = None
            self.pipe.send(("reached", self.first, self.last))
        return True

    def _check_deadlines(self) -> None:
        now = time.monotonic()
        if self.report_by is not None and now > self.report_by:
            self.report_by = None
            self.pipe.send(("timeout",))
        for held in [held for held in self.upgrading if held.deadline < now]:
            self._refused(held)  # no answer to the handshake in time


async def expect_everywhere(
    holders: list[Holder], value: int, timeout: float, action: Any = None
) -> tuple | None:
    """Arm every holder for `value`, then run `action` (a probe's connect or close); (first, last)
    arrival over all holders (time.monotonic, one clock for every process), or None on a timeout."""
    for holder in holders:
        holder.send("expect", value, timeout)
    for holder in holders:
        assert (await holder.reply())[0] == "armed"
    if action is not None:
        await action()
    replies = [await holder.reply(timeout + WAIT_SECONDS) for holder in holders]
    if any(reply[0] != "reached" for reply in replies):
        return None
    firsts = [reply[1] for reply in replies if reply[1] is not None]
    return (min(firsts) if firsts else None), max(reply[2] for reply in replies)


async def settle(holders: list[Holder], probe_url: str, deadline: float) -> int:
    """The count every held socket agrees on (other users included), by asking a fresh socket."""
    while time.monotonic() < deadline:
        try:
            probe = await open_client(probe_url)
        except (ConnectionError, OSError, TimeoutError):  # refused under load: ask again
            await asyncio.sleep(0.5)
            continue
        value = await asyncio.wait_for(probe.first_count, WAIT_SECONDS) - 1
        probe.close()
        await asyncio.wait_for(probe.closed, WAIT_SECONDS)
        if await expect_everywhere(holders, value, 2) is not None:
            return value
    raise TimeoutError("the held sockets never agreed on one count")


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Usage:
    """Resident memory (KiB) and CPU time (s, user + system) of a process tree."""

    rss_kib: int
    cpu_seconds: float


def usage_of(pids: dict[str, int]) -> dict[str, Usage]:
    """The resident memory and CPU time of each named process tree (a master and its workers)."""
    children: dict[int, list[int]] = {}
    usage: dict[int, Usage] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            status = (entry / "status").read_text()
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            # /proc/<pid>/stat: the fields after the command (which may hold spaces) in parentheses;
            # utime and stime are the 14th and 15th of the whole line.
            stat = (entry / "stat").read_text().rpartition(")")[2].split()
            cpu = (int(stat[11]) + int(stat[12])) / CLOCK_TICKS
            usage[int(entry.name)] = Usage(int(fields.get("VmRSS", "0 kB").split()[0]), cpu)
            children.setdefault(int(fields["PPid"]), []).append(int(entry.name))

    def tree(root: int) -> Usage:
        total, pending = Usage(0, 0.0), [root]
        while pending:
            pid = pending.pop()
            own = usage.get(pid, Usage(0, 0.0))
            total.rss_kib += own.rss_kib
            total.cpu_seconds += own.cpu_seconds
            pending.extend(children.get(pid, []))
        return total

    return {name: tree(pid) for name, pid in pids.items()}


async def run(
    target: str,
    url: str,
    options: argparse.Namespace,
    database_url: str | None,
    measured: dict[str, int],
    metrics_url: str | None,
    mix: list[str] | None,
) -> Result:
    deadline = time.monotonic() + options.max_seconds
    result = Result(
        target=target, url=url, clients=options.clients, probes=options.probes, gap_seconds=options.gap
    )
    started = time.monotonic()
    memory_before = usage_of(measured)
    per_process = options.per_process
    shares = [min(per_process, options.clients - n) for n in range(0, options.clients, per_process)]
    holders = [Holder(url, share, options.read_pause_ms / 1000) for share in shares]
    try:
        opened = [await holder.reply(options.max_seconds) for holder in holders]
        assert sum(reply[1] for reply in opened) == options.clients
        result.handshake_retries = sum(reply[2] for reply in opened)
        for reply in opened:
            for answer, count in reply[3].items():
                result.refused_by_answer[answer] = result.refused_by_answer.get(answer, 0) + count
        base = await settle(holders, url, deadline)
        result.ramp_seconds = round(time.monotonic() - started, 2)
        await asyncio.sleep(1.5)  # a heartbeat: every row is rewritten with its current count
        result.connections_per_process = await presence_rows(database_url)
        memory_after = usage_of(measured)
        result.memory_bytes_per_socket = {
            name: round((memory_after[name].rss_kib - memory_before[name].rss_kib) * 1024 / options.clients)
            for name in measured
        }
        parts = measured | {f"clients {n}": holder.process.pid for n, holder in enumerate(holders)}
        idle_before = usage_of(parts)
        await asyncio.sleep(options.idle_seconds)
        idle = by_part(idle_before, usage_of(parts))
        per_1000 = options.clients / 1000
        idle_rate = {name: seconds / max(options.idle_seconds, 1e-9) for name, seconds in idle.items()}
        if options.idle_seconds:
            result.idle_cpu_ms_per_second_per_1000_sockets = {
                name: round(rate * 1000 / per_1000, 2) for name, rate in idle_rate.items()
            }
        broadcasts_before = await broadcast_totals(metrics_url)
        cpu_before = usage_of(parts)
        probes_started = time.monotonic()
        heard: list[float] = []
        listener = await notify_listener(database_url, heard)
        load = None
        if mix:
            load = subprocess.Popen(mix, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

        connects: list[float] = []
        disconnects: list[float] = []
        firsts: list[float] = []
        notifies: list[float] = []
        probe: CounterClient | None = None
        for _ in range(options.probes):
            if time.monotonic() > deadline:
                break
            for samples, expected in ((connects, base + 1), (disconnects, base)):
                # Apart by more than the server's broadcast pause: each probe measures a lone change,
                # not one coalesced with the previous (that is the churn case: --gap 0 shows it).
                await asyncio.sleep(options.gap)
                start = 0.0

                async def act() -> None:
                    nonlocal probe, start
                    heard.clear()
                    start = time.monotonic()
                    if expected > base:
                        # A refused handshake is tried again, as a page would; the time counts from
                        # the first attempt.
                        for attempt in range(JOIN_ATTEMPTS):
                            try:
                                probe = await open_client(url)
                                break
                            except (ConnectionError, OSError, TimeoutError):
                                if attempt == JOIN_ATTEMPTS - 1:
                                    raise
                                result.handshake_retries += 1
                                await asyncio.sleep(0.2)
                    else:
                        assert probe is not None
                        probe.close()

                arrivals = await expect_everywhere(holders, expected, WAIT_SECONDS, act)
                if arrivals is None:
                    result.timeouts += 1
                    base = await settle(holders, url, deadline)
                    break
                first, last = arrivals
                samples.append(max(0.0, last - start))
                firsts.append(max(0.0, (first or start) - start))
                if heard:
                    notifies.append(heard[0] - start)
            if probe is not None:
                await asyncio.wait_for(probe.closed, WAIT_SECONDS)
        changes = len(connects) + len(disconnects)
        spent = by_part(cpu_before, usage_of(parts))
        probing = time.monotonic() - probes_started
        if changes:
            result.cpu_ms_per_change_per_1000_sockets = {
                name: round(seconds * 1000 / changes / per_1000, 2) for name, seconds in spent.items()
            }
            if options.idle_seconds:
                result.cpu_ms_per_change_per_1000_sockets_net_of_idle = {
                    name: round((seconds - idle_rate[name] * probing) * 1000 / changes / per_1000, 2)
                    for name, seconds in spent.items()
                }
        broadcasts_after = await broadcast_totals(metrics_url)
        if broadcasts_before:
            during = {name: broadcasts_after[name] - broadcasts_before[name] for name in broadcasts_before}
            result.broadcasts = round(during["broadcasts"])
            per_broadcast = 1000 / max(1, result.broadcasts)
            result.broadcast_mean_ms = round(during["duration"] * per_broadcast, 2)
            result.broadcast_delay_mean_ms = round(during["delay"] * per_broadcast, 2)
        if listener is not None:
            await listener.close()
        if load is not None:
            output = await asyncio.to_thread(load.communicate)
            result.mix = mix_summary(output[0])
    finally:
        for holder in holders:
            holder.stop()

    result.connect_ms = summary(connects)
    result.disconnect_ms = summary(disconnects)
    result.first_client_ms = summary(firsts)
    result.notify_ms = summary(notifies)
    return result


def by_part(before: dict[str, Usage], after: dict[str, Usage]) -> dict[str, float]:
    """CPU seconds spent between two readings, the holder processes summed as "clients"."""
    spent = {name: after[name].cpu_seconds - before[name].cpu_seconds for name in before}
    return {name: value for name, value in spent.items() if not name.startswith("clients ")} | {
        "clients": sum(value for name, value in spent.items() if name.startswith("clients "))
    }


async def notify_listener(database_url: str | None, heard: list[float]) -> asyncpg.Connection | None:
    """LISTEN beside the counter's processes: the time each presence change is announced to them."""
    if database_url is None:
        return None
    connection = await asyncpg.connect(database_url)
    await connection.add_listener("counter_presence", lambda *_: heard.append(time.monotonic()))
    return connection


async def broadcast_totals(metrics_url: str | None) -> dict[str, float]:
    """Of every broadcast the counter's processes made so far, from their metrics: how many, the
    seconds they took and the seconds their changes waited for them. The processes write their
    numbers at most FLUSH_SECONDS after a broadcast (stack_common.metrics_flush): waited for
    first."""
    if metrics_url is None:
        return {}
    await asyncio.sleep(FLUSH_SECONDS + 0.5)

    def scrape() -> str:
        with urllib.request.urlopen(metrics_url, timeout=10) as response:
            return response.read().decode()

    wanted = {
        "counter_broadcast_duration_seconds_count": "broadcasts",
        "counter_broadcast_duration_seconds_sum": "duration",
        "counter_broadcast_delay_seconds_sum": "delay",
    }
    totals = {}
    for line in (await asyncio.to_thread(scrape)).splitlines():
        name, _, value = line.partition(" ")
        if name in wanted:
            totals[wanted[name]] = float(value)
    return totals


def mix_summary(output: str) -> dict[str, float]:
    from bench import wrk

    parsed = wrk.parse(output)
    return {
        "requests_per_s": parsed.requests_per_s,
        "p99_ms": parsed.p99_ms,
        "errors": parsed.errors,
        "timeouts": parsed.timeouts,
    }


def raise_open_files_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise SystemExit(f"RLIMIT_NOFILE hard limit {hard} < {needed} needed; raise it (ulimit -Hn)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def print_table(results: list[Result]) -> None:
    print(f"\n{'target':<8} {'clients':>7} {'ramp s':>7} {'connect p50/p99/max ms':>24} "
          f"{'disconnect p50/p99/max ms':>26} {'first p50':>9} {'timeouts':>8}  connections per process")
    notes = []
    for r in results:
        c, d = r.connect_ms, r.disconnect_ms
        per_process = " ".join(str(n) for n in r.connections_per_process.values()) or "-"
        print(f"{r.target:<8} {r.clients:>7} {r.ramp_seconds:>7} "
              f"{c.get('p50', '-'):>8}/{c.get('p99', '-')}/{c.get('max', '-'):<8} "
              f"{d.get('p50', '-'):>9}/{d.get('p99', '-')}/{d.get('max', '-'):<9} "
              f"{r.first_client_ms.get('p50', '-'):>9} {r.timeouts:>8}  {per_process}")
        if r.handshake_retries:
            answers = ", ".join(f"{answer} ×{count}" for answer, count in sorted(r.refused_by_answer.items()))
            notes.append(f"{r.target}: {r.handshake_retries} refused connects tried again ({answers or '-'})")
        if r.memory_bytes_per_socket:
            memory = ", ".join(f"{name} {size:,} B" for name, size in r.memory_bytes_per_socket.items())
            notes.append(f"{r.target}: resident memory per held socket: {memory}")
        if r.notify_ms or r.broadcasts:
            notify = f"NOTIFY heard p50 {r.notify_ms['p50']} ms, " if r.notify_ms else ""
            broadcast = (
                f", {r.broadcasts} broadcasts: each waited {r.broadcast_delay_mean_ms} ms, took "
                f"{r.broadcast_mean_ms} ms"
                if r.broadcasts
                else ""
            )
            notes.append(
                f"{r.target}: stages: {notify}first client p50 {r.first_client_ms.get('p50', '-')} ms, "
                f"last p50 {r.connect_ms.get('p50', '-')} ms{broadcast}"
            )
        if r.cpu_ms_per_change_per_1000_sockets:
            cpu = ", ".join(f"{name} {ms} ms" for name, ms in r.cpu_ms_per_change_per_1000_sockets.items())
            notes.append(f"{r.target}: CPU per change per 1,000 sockets: {cpu}")
        if r.idle_cpu_ms_per_second_per_1000_sockets:
            idle_rates = r.idle_cpu_ms_per_second_per_1000_sockets.items()
            idle = ", ".join(f"{name} {ms} ms" for name, ms in idle_rates)
            net = ", ".join(
                f"{name} {ms} ms" for name, ms in r.cpu_ms_per_change_per_1000_sockets_net_of_idle.items()
            )
            notes.append(f"{r.target}: CPU with no change, per second per 1,000 sockets: {idle}")
            notes.append(f"{r.target}: CPU per change per 1,000 sockets net of that: {net}")
        if r.mix:
            notes.append(
                f"{r.target}: the mix meanwhile: {r.mix['requests_per_s']:,.0f} req/s, p99 {r.mix['p99_ms']:.1f} ms, "
                f"{r.mix['errors']:g} errors, {r.mix['timeouts']:g} timeouts"
            )
    for row in notes:
        print(row)
    for r in results:
        for what, samples in (("connect", r.connect_ms), ("disconnect", r.disconnect_ms)):
            if samples:
                passed = samples["p99"] < P99_TARGET_MS
                print(f"{'PASS' if passed else 'FAIL'}  {r.target} ({r.clients} sockets): p99 from a {what} "
                      f"until every client has the count < {P99_TARGET_MS} ms: {samples['p99']} ms")
        errors = r.refused_by_answer.get("500", 0)
        print(f"{'FAIL' if errors else 'PASS'}  {r.target} ({r.clients} sockets): no connect answered 500: {errors}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--probes", type=int, default=100, help="connect+disconnect events measured")
    parser.add_argument("--gap", type=float, default=0.3, help="seconds between probe events")
    parser.add_argument("--url", help="websocket URL to test; default: start a native stack and test both paths")
    parser.add_argument(
        "--target",
        help="name in the table and result file: of --url (default custom), or a suffix for the stack's",
    )
    parser.add_argument("--database-url", help="with --url: where to read connections per process")
    parser.add_argument("--workers", type=int, default=2, help="counter processes of the stack it starts")
    parser.add_argument("--max-seconds", type=float, default=900, help="per target, ramp-up included")
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    parser.add_argument(
        "--per-process",
        type=int,
        default=5000,
        help="held sockets per client process (each may have 20,000 fds)",
    )
    parser.add_argument(
        "--idle-seconds",
        type=float,
        # One ping interval of the counter's: every held socket is pinged once within it, however
        # bunched the ramp-up left the pings (5,000 sockets open in ~3 s, and ping together).
        default=20,
        help="before the probes, measure this long what the held sockets cost with no change (0: not)",
    )
    parser.add_argument(
        "--read-pause-ms",
        type=float,
        default=2,
        help="a holder process rests this long after each batch of reads (0: reads at once)",
    )
    parser.add_argument("--only", choices=("direct", "nginx"), help="of the stack it starts, one path only")
    parser.add_argument(
        "--mix-seconds",
        type=float,
        default=0,
        help="the load test's mix (wrk -c50, bench/mix.lua) through nginx meanwhile, this long",
    )
    args = parser.parse_args()
    raise_open_files_limit(1024)

    stack: Stack | None = None
    measured: dict[str, int] = {}
    metrics_url: str | None = None
    mix: list[str] | None = None
    if args.url:
        targets = [(args.target or "custom", args.url)]
        database_url = args.database_url
    else:
        state = Path(tempfile.mkdtemp(prefix="counter-bench-"))
        stack = Stack(state, ports={name: free_port() for name in DEFAULT_PORTS}, workers=args.workers)
        print(f"starting a native stack ({args.workers} counter processes) in {state}", file=sys.stderr)
        stack.start()
        database_url = stack.database_url("counter", with_password=True)
        direct = stack.service_url("counter").replace("http", "ws", 1) + "/"
        targets = [("direct", direct), ("nginx", stack.http_url.replace("http", "ws", 1) + "/counter")]
        targets = [
            (f"{name}-{args.target}" if args.target else name, url)
            for name, url in targets
            if args.only in (None, name)
        ]
        measured = {name: stack.processes[name].pid for name in ("counter", "nginx")}
        metrics_url = stack.metrics_url("counter")
        if args.mix_seconds:
            first, last = 1, 1000  # the seed's products (SEED_SCALE 1)
            mix = ["wrk", "-t1", "-c50", f"-d{args.mix_seconds:g}s", "--latency", "-s", str(MIX_SCRIPT)]
            token = stack.write_tokens_file.read_text().split()[0]  # the mix creates and deletes
            mix += [stack.http_url, "--", str(first), str(last), token]

    results = []
    try:
        for name, url in targets:
            print(f"{name}: {args.clients} sockets to {url}, {args.probes} probes", file=sys.stderr)
            result = uvloop.run(run(name, url, args, database_url, measured, metrics_url, mix))
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
    # A timeout, or a connect nginx answered 500 (the stack's own error), fails the run; a p99 over
    # the target does not (at 20,000 it is, on two cores: bench/README.md, "The fan-out's floor").
    return 1 if any(r.timeouts or r.refused_by_answer.get("500") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
