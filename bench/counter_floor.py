"""The fan-out's floor: the least a change can cost at N sockets on this machine, whatever the counter.

    python bench/counter_floor.py --clients 20000                 # through nginx (the /counter location)
    python bench/counter_floor.py --clients 20000 --only direct   # without nginx

A bare server — `--servers` processes sharing one port with SO_REUSEPORT, as the counter's workers
do, that answer the websocket handshake and then only hold their sockets — writes one pre-built text
frame to every socket it holds with a plain `socket.send` each (no event loop, no library: the least
Python can do per socket). The clients are as lean: holder processes of `--per-process` sockets that
read every socket with `os.read` in an `epoll` loop and parse each frame (header, length, the count),
resting `--read-pause-ms` after each batch of reads as bench/counter_fanout.py's holders do; a
handshake reset during the ramp-up is tried again after a pause, and counted.
Through nginx the sockets go through the stack's own nginx config (nginx/templates/, rendered as
dev/stack.py does), so nginx relays every frame exactly as it relays the counter's.

Each of `--rounds` rounds sends a new number to everyone at once and measures from the moment the
servers are told to send until the last client has parsed it; it also reports how long the servers'
write loops took, and the CPU time (user + system, from /proc) the servers, nginx and the clients
spent per socket per round. What the counter adds to these (presence, coalescing, websockets'
bookkeeping) is the difference to bench/counter_fanout.py's figures. Everything is bounded
(--max-seconds), and every process it starts is stopped at the end.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import multiprocessing
import multiprocessing.connection
import os
import random
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cpu import process_times, seconds_by_tree
from dev.stack import DEFAULT_PORTS, Stack, free_port, nginx_user, render_nginx

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455's, for Sec-WebSocket-Accept
WAIT_SECONDS = 60.0
HANDSHAKE_ATTEMPTS = 10


def read_head(sock: socket.socket) -> bytes:
    """Bytes up to the end of an HTTP head (blocking, with the socket's timeout)."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        head += chunk
    return head


def serve(port: int, pipe: multiprocessing.connection.Connection) -> None:
    """One bare server process: accept and upgrade, then write a frame to every socket on command."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(4096)
    poller = select.epoll()
    poller.register(listener.fileno(), select.EPOLLIN)
    poller.register(pipe.fileno(), select.EPOLLIN)
    held: list[socket.socket] = []
    pipe.send(("listening",))
    while True:
        for fd, _ in poller.poll():
            if fd == listener.fileno():
                conn, _ = listener.accept()
                conn.settimeout(5)
                head = read_head(conn)
                key = next(
                    line.split(b":", 1)[1].strip()
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"sec-websocket-key:")
                )
                accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
                conn.sendall(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
                )
                conn.setblocking(False)
                held.append(conn)
                continue
            command = pipe.recv()
            if command[0] == "held":
                pipe.send(("held", len(held)))
            elif command[0] == "send":
                payload = str(command[1]).encode()
                frame = bytes([0x81, len(payload)]) + payload  # unmasked text frame, < 126 bytes
                started = time.monotonic()
                send = socket.socket.send
                for conn in held:
                    send(conn, frame)  # a few bytes into an empty buffer: never short, never blocks
                pipe.send(("sent", started, time.monotonic()))
            else:
                for conn in held:
                    conn.close()
                return


def hold(
    pipe: multiprocessing.connection.Connection, port: int, path: str, clients: int, pause: float
) -> None:
    """One client process: open `clients` websockets, then read and parse every frame on them."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    poller = select.epoll()
    held: dict[int, socket.socket] = {}
    retries = 0
    for _ in range(clients):
        for attempt in range(HANDSHAKE_ATTEMPTS):
            conn = socket.create_connection(("127.0.0.1", port), timeout=WAIT_SECONDS)
            try:
                conn.sendall(request.replace("{key}", base64.b64encode(os.urandom(16)).decode()).encode())
                head = read_head(conn)
                break
            except ConnectionError:
                # A burst of 20,000 connects sees a few handshakes reset: tried again after a
                # pause, as counter_fanout.py's clients do, and counted. An answer other than 101
                # (nginx's 500 when a worker is out of connections) is not: it fails the run.
                conn.close()
                if attempt == HANDSHAKE_ATTEMPTS - 1:
                    raise
                retries += 1
                time.sleep(0.2 + random.random() / 2)
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.split(b"\r\n")[0].decode())
        conn.setblocking(False)
        held[conn.fileno()] = conn
        poller.register(conn.fileno(), select.EPOLLIN)
    poller.register(pipe.fileno(), select.EPOLLIN)
    pipe.send(("opened", len(held), retries))
    expected, reached, first, last = -1, 0, 0.0, 0.0
    read, pipe_fd = os.read, pipe.fileno()
    while True:
        events = poller.poll(1.0, len(held) + 1)
        for fd, _ in events:
            if fd == pipe_fd:
                command = pipe.recv()
                if command[0] == "close":
                    return
                expected, reached, first = command[1], 0, 0.0
                pipe.send(("armed",))
                continue
            data = read(fd, 256)
            # Every frame in what was read: a text frame (0x81) of a short payload, the count.
            while data:
                length = data[1]
                if data[0] != 0x81 or length > 125 or len(data) < 2 + length:
                    raise ValueError(f"unexpected bytes {data[:16]!r}")
                value, data = int(data[2 : 2 + length]), data[2 + length :]
                if value == expected:
                    reached += 1
                    last = time.monotonic()
                    first = first or last
                    if reached == len(held):
                        pipe.send(("reached", first, last))
        if events and pause:
            time.sleep(pause)  # as counter_fanout.py's holders: fewer wake-ups, arrivals timed late


def expect(pipe: multiprocessing.connection.Connection, kind: str) -> tuple:
    if not pipe.poll(WAIT_SECONDS):
        raise TimeoutError(f"no {kind!r} within {WAIT_SECONDS} s")
    message = pipe.recv()
    if message[0] != kind:
        raise RuntimeError(f"expected {kind!r}, got {message!r}")
    return message


def start_nginx(state: Path, counter_port: int) -> subprocess.Popen:
    """nginx from the stack's template, its /counter location relaying to the bare servers."""
    ports = {name: free_port() for name in DEFAULT_PORTS}
    stack = Stack(state, ports=ports)
    shutil.rmtree(stack.pg_dir, ignore_errors=True)  # made for a PostgreSQL this run never starts
    folder = state / "nginx"
    (folder / "logs").mkdir(parents=True)
    conf = render_nginx(folder, {**stack.nginx_env(), "COUNTER_UPSTREAM": f"127.0.0.1:{counter_port}"})
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    command = [nginx, "-p", f"{folder}/", "-c", str(conf), "-e", "stderr"]
    process = subprocess.Popen([*command, "-g", f"daemon off; {nginx_user()}"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", ports["http"]), 1):
            process.listen_port = ports["http"]  # type: ignore[attr-defined]
            return process
        time.sleep(0.1)
    process.kill()
    raise TimeoutError("nginx did not start")


def run(target: str, options: argparse.Namespace, state: Path) -> dict:
    context = multiprocessing.get_context("fork")
    port = free_port()
    servers = []
    for _ in range(options.servers):
        parent, child = context.Pipe()
        process = context.Process(target=serve, args=(port, child), daemon=True)
        process.start()
        expect(parent, "listening")
        servers.append((process, parent))
    nginx = start_nginx(state / target, port) if target == "nginx" else None
    listen_port = nginx.listen_port if nginx else port  # type: ignore[attr-defined]
    client_port, path = (listen_port, "/counter") if nginx else (port, "/")
    holders = []
    try:
        for start in range(0, options.clients, options.per_process):
            parent, child = context.Pipe()
            share = min(options.per_process, options.clients - start)
            process = context.Process(
                target=hold, args=(child, client_port, path, share, options.read_pause_ms / 1000), daemon=True
            )
            process.start()
            holders.append((process, parent))
        retries = sum(expect(pipe, "opened")[2] for _, pipe in holders)
        held = []
        for _, pipe in servers:
            pipe.send(("held",))
            held.append(expect(pipe, "held")[1])
        parts = {f"server {n}": p.pid for n, (p, _) in enumerate(servers)}
        parts |= {f"clients {n}": p.pid for n, (p, _) in enumerate(holders)}
        if nginx:
            parts["nginx"] = nginx.pid
        time.sleep(1)
        before = seconds_by_tree(parts, process_times())
        latencies, writes, firsts = [], [], []
        for value in range(1, options.rounds + 1):
            time.sleep(options.gap)
            for _, pipe in holders:
                pipe.send(("arm", value))
                expect(pipe, "armed")
            started = time.monotonic()
            for _, pipe in servers:
                pipe.send(("send", value))
            sent = [expect(pipe, "sent") for _, pipe in servers]
            reached = [expect(pipe, "reached") for _, pipe in holders]
            latencies.append(max(r[2] for r in reached) - started)
            firsts.append(min(r[1] for r in reached) - started)
            writes.append(max(s[2] for s in sent) - started)
        after = seconds_by_tree(parts, process_times())
    finally:
        for process, pipe in [*holders, *servers]:
            with contextlib.suppress(OSError):
                pipe.send(("close",))
            process.join(5)
            if process.is_alive():
                process.kill()
        if nginx:
            nginx.send_signal(signal.SIGQUIT)
            try:
                nginx.wait(10)
            except subprocess.TimeoutExpired:
                nginx.kill()
    spent: dict[str, float] = {}
    for name in parts:
        group = name.split(" ")[0]
        spent[group] = spent.get(group, 0.0) + after[name] - before[name]
    per_socket = {
        name: round(seconds * 1e6 / options.rounds / options.clients, 1) for name, seconds in spent.items()
    }

    def ms(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return round(ordered[min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1)] * 1000, 1)

    return {
        "target": target,
        "clients": options.clients,
        "held_per_server": held,
        "handshake_retries": retries,
        "latency_ms": {"p50": round(statistics.median(latencies) * 1000, 1), "p99": ms(latencies, 99),
                       "max": ms(latencies, 100)},
        "first_client_ms_p50": round(statistics.median(firsts) * 1000, 1),
        "write_loop_ms_p50": round(statistics.median(writes) * 1000, 1),
        "cpu_us_per_socket_per_round": per_socket | {"total": round(sum(per_socket.values()), 1)},
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=20000)
    parser.add_argument("--servers", type=int, default=2, help="server processes (the counter's workers: 2)")
    parser.add_argument("--per-process", type=int, default=5000, help="sockets per client process")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--gap", type=float, default=0.3, help="seconds between rounds")
    parser.add_argument(
        "--read-pause-ms", type=float, default=2, help="clients rest this long after each batch of reads"
    )
    parser.add_argument("--only", choices=("direct", "nginx"))
    parser.add_argument("--max-seconds", type=float, default=600, help="the whole run, then it stops")
    options = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("--max-seconds passed")))
    signal.alarm(int(options.max_seconds))
    state = Path(tempfile.mkdtemp(prefix="counter-floor-"))
    results = []
    try:
        for target in ("direct", "nginx"):
            if options.only in (None, target):
                print(f"{target}: {options.clients} sockets, {options.rounds} rounds", file=sys.stderr)
                results.append(run(target, options, state))
    finally:
        shutil.rmtree(state, ignore_errors=True)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    for r in results:
        cpu = ", ".join(f"{name} {us}" for name, us in r["cpu_us_per_socket_per_round"].items())
        print(f"{r['target']}: {r['clients']} sockets ({' + '.join(map(str, r['held_per_server']))}): "
              f"last client p50 / p99 / max {r['latency_ms']['p50']} / {r['latency_ms']['p99']} / "
              f"{r['latency_ms']['max']} ms ({r['handshake_retries']} handshakes tried again), "
              f"first {r['first_client_ms_p50']} ms, "
              f"servers' write loop {r['write_loop_ms_p50']} ms; CPU µs per socket per round: {cpu}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
