"""The live counter with real websocket clients: through nginx, and (native) against extra instances.

Other tests may hold sockets, so every test first opens an observer and waits for the count to go
quiet; what it then expects is that baseline plus its own clients. Every wait polls with a deadline.
"""

import asyncio
import base64
import os
import signal
import struct
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from dev.stack import Stack
from tests.helpers import Faults, connected, eventually, process_tree, wait_until

TIMEOUT = 10.0
# A killed instance's row counts until it is STALE_AFTER_SECONDS (5) old, plus one heartbeat.
STALE_TIMEOUT = 15.0


class Client:
    """One websocket user: remembers the last count it was sent and how its socket closed."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.counts: list[int] = []
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, url: str) -> "Client":
        return cls(await connect(url, open_timeout=TIMEOUT, close_timeout=2))

    async def _read(self) -> None:
        try:
            async for message in self.socket:
                self.counts.append(int(message))
        except ConnectionClosed:
            pass

    @property
    def count(self) -> int | None:
        return self.counts[-1] if self.counts else None

    @property
    def close_code(self) -> int | None:
        return self.socket.close_code

    async def close(self) -> None:
        await self.socket.close()
        await self.reader

    async def settle(self, quiet: float = 0.7) -> int:
        """The count once no update came for `quiet` seconds: sockets of earlier tests are gone."""
        deadline = time.monotonic() + STALE_TIMEOUT
        await eventually(lambda: self.count is not None, TIMEOUT, lambda: "no first count")
        seen = len(self.counts)
        last_change = time.monotonic()
        while time.monotonic() - last_change < quiet:
            assert time.monotonic() < deadline, f"the count never settled: {self.counts[-20:]}"
            await asyncio.sleep(0.05)
            if len(self.counts) != seen:
                seen, last_change = len(self.counts), time.monotonic()
        assert self.count is not None
        return self.count


async def all_see(clients: list[Client], expected: int, timeout: float = TIMEOUT) -> None:
    await eventually(
        lambda: all(client.count == expected for client in clients),
        timeout,
        lambda: f"expected {expected} everywhere, clients have {[client.count for client in clients]}",
    )


@asynccontextmanager
async def observed(url: str) -> AsyncIterator[tuple[Client, int]]:
    """An observer socket and the settled count, itself included."""
    observer = await Client.open(url)
    try:
        yield observer, await observer.settle()
    finally:
        await observer.close()


async def open_clients(url: str, n: int) -> list[Client]:
    return list(await asyncio.gather(*(Client.open(url) for _ in range(n))))


async def close_all(clients: list[Client]) -> None:
    await asyncio.gather(*(client.close() for client in clients))


def run(test: Awaitable[None]) -> None:
    asyncio.run(asyncio.wait_for(test, timeout=120))


# -- through nginx (native and compose) ----------------------------------------------------------


def test_n_clients_see_n_and_closing_some_updates_the_rest(ws_url: str) -> None:
    async def scenario() -> None:
        async with observed(ws_url) as (observer, base):
            clients = await open_clients(ws_url, 6)
            await all_see([observer, *clients], base + 6)
            await close_all(clients[:2])
            await all_see([observer, *clients[2:]], base + 4)
            await close_all(clients[2:])
            await all_see([observer], base)

    run(scenario())


def test_a_new_client_is_sent_the_count_right_after_it_connects(ws_url: str) -> None:
    async def scenario() -> None:
        async with observed(ws_url) as (observer, base):
            client = await Client.open(ws_url)
            await all_see([client], base + 1)
            assert client.counts == [base + 1], "one message per change, none before the current count"
            await client.close()

    run(scenario())


def test_a_client_that_vanishes_without_a_close_frame_is_removed(ws_url: str) -> None:
    async def scenario() -> None:
        async with observed(ws_url) as (observer, base):
            clients = await open_clients(ws_url, 3)
            await all_see([observer, *clients], base + 3)
            clients[0].socket.transport.abort()  # TCP reset, no close frame
            await all_see([observer, *clients[1:]], base + 2)
            await close_all(clients)

    run(scenario())


def test_messages_from_clients_are_ignored(ws_url: str) -> None:
    async def scenario() -> None:
        async with observed(ws_url) as (observer, base):
            talker = await Client.open(ws_url)
            await all_see([observer, talker], base + 1)
            for text in ("hello", "42", "", "{}"):
                await talker.socket.send(text)
            newcomer = await Client.open(ws_url)
            await all_see([observer, talker, newcomer], base + 2)
            assert talker.close_code is None
            await close_all([talker, newcomer])

    run(scenario())


@pytest.mark.parametrize(
    ("abuse", "code"),
    [
        ("oversized frame", CloseCode.MESSAGE_TOO_BIG),
        ("flood", CloseCode.POLICY_VIOLATION),
    ],
)
def test_abuse_closes_that_socket_only(ws_url: str, abuse: str, code: int) -> None:
    async def scenario() -> None:
        async with observed(ws_url) as (observer, base):
            bystander, abuser = await open_clients(ws_url, 2)
            await all_see([observer, bystander, abuser], base + 2)
            try:
                if abuse == "oversized frame":
                    await abuser.socket.send("x" * 2048)  # max_message_bytes is 1024
                else:
                    for _ in range(200):  # max_messages_per_second is 20
                        await abuser.socket.send("spam")
            except ConnectionClosed:
                pass
            await eventually(lambda: abuser.close_code is not None, TIMEOUT, lambda: "the abuser is still open")
            assert abuser.close_code == code
            await all_see([observer, bystander], base + 1)
            assert bystander.close_code is None
            await bystander.close()

    run(scenario())


# -- native: processes, instances, the database ---------------------------------------------------


async def presence_rows(stack: Stack, fresh_only: bool = True) -> dict[str, int]:
    """counter_presence as instance_id → connections; fresh_only: as the services count it."""
    async with connected(stack.database_url("counter", with_password=True)) as connection:
        rows = await connection.fetch(
            "SELECT instance_id, connections FROM counter_presence"
            " WHERE NOT $1 OR heartbeat_at > now() - interval '5 s'",
            fresh_only,
        )
    return {row["instance_id"]: row["connections"] for row in rows}


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def wait_healthy(url: str) -> None:
    wait_until(lambda: healthy(url), 30, f"{url} never became healthy")


@contextmanager
def extra_counter(stack: Stack, name: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """A second instance of the counter service on its own port; yields its websocket URL."""
    url = stack.start_service_instance("counter", name, env=env)
    try:
        wait_healthy(url)
        yield url.replace("http", "ws", 1)
    finally:
        if name in stack.processes:
            stack.stop_process(name)


@pytest.mark.native
def test_the_count_is_exact_across_worker_processes(stack: Stack, ws_url: str) -> None:
    async def scenario() -> None:
        async with observed(ws_url) as (observer, base):
            clients = await open_clients(ws_url, 20)
            await all_see([observer, *clients], base + 20)
            rows = await presence_rows(stack)
            assert sum(rows.values()) == base + 20
            # Both worker processes hold sockets (20 connects all on one: about 1 in 500 000).
            assert len([count for count in rows.values() if count > 0]) >= 2, rows
            await close_all(clients[::2])
            await all_see([observer, *clients[1::2]], base + 10)
            await close_all(clients[1::2])

    run(scenario())


@pytest.mark.native
def test_two_instances_report_the_same_total(stack: Stack, ws_url: str) -> None:
    main_url = stack.service_url("counter").replace("http", "ws", 1)
    with extra_counter(stack, "counter-b") as second_url:

        async def scenario() -> None:
            async with observed(ws_url) as (observer, base):
                on_main = await open_clients(main_url, 3)
                on_second = await open_clients(second_url, 4)
                everyone = [observer, *on_main, *on_second]
                await all_see(everyone, base + 7)
                await close_all(on_second[:3])
                await all_see([observer, *on_main, on_second[3]], base + 4)
                await close_all(on_main)
                await all_see([observer, on_second[3]], base + 1)
                await on_second[3].close()
                await all_see([observer], base)

        run(scenario())


@asynccontextmanager
async def clients_on_a_second_instance(
    stack: Stack, ws_url: str, name: str, n: int
) -> AsyncIterator[tuple[Client, int, set[str], list[Client]]]:
    """An observer through nginx (and the settled count), the presence rows before the second
    instance started, and `n` clients connected to that instance, all seen by everyone."""
    async with observed(ws_url) as (observer, base):
        rows_before = set(await presence_rows(stack))
        with extra_counter(stack, name) as second_url:
            clients = await open_clients(second_url, n)
            await all_see([observer, *clients], base + n)
            assert len(await presence_rows(stack)) == len(rows_before) + 2  # WORKERS=2
            yield observer, base, rows_before, clients


@pytest.mark.native
def test_sigterm_sends_going_away_and_clients_reconnect_to_a_right_count(stack: Stack, ws_url: str) -> None:
    async def scenario() -> None:
        async with clients_on_a_second_instance(stack, ws_url, "counter-term", 4) as (
            observer, base, rows_before, clients
        ):
            exit_code = await asyncio.to_thread(stack.stop_process, "counter-term")
            assert exit_code == 0
            assert {client.close_code for client in clients} == {CloseCode.GOING_AWAY}
            # Gone at once: a row left behind would still be fresh for 5 s.
            assert set(await presence_rows(stack)) == rows_before
            await all_see([observer], base, timeout=2)
            # The clients reconnect (through nginx, to the instance still running): counted again.
            reconnected = await open_clients(ws_url, len(clients))
            try:
                await all_see([observer, *reconnected], base + len(clients))
            finally:
                await close_all(reconnected)

    run(scenario())


@pytest.mark.native
def test_a_killed_instance_stops_being_counted(stack: Stack, ws_url: str) -> None:
    async def scenario() -> None:
        async with clients_on_a_second_instance(stack, ws_url, "counter-kill", 5) as (
            observer, base, rows_before, clients
        ):
            stack.signal_process("counter-kill", signal.SIGKILL)  # the whole group: no cleanup
            await eventually(lambda: all(c.close_code is not None for c in clients), TIMEOUT, str)
            await all_see([observer], base, timeout=STALE_TIMEOUT)
            # Stale rows are deleted too, by whichever process's heartbeat got to them first (that
            # one may commit a moment after the observer's process stopped counting them).

            async def only_the_rows_before() -> bool:
                return set(await presence_rows(stack, fresh_only=False)) == rows_before

            await eventually(only_the_rows_before, TIMEOUT, "stale rows never deleted", interval=0.1)

    run(scenario())


def worker_of(instance_id: str) -> int:
    """The pid in a presence row's instance_id (host:pid:random)."""
    return int(instance_id.split(":")[1])


@pytest.mark.native
def test_the_supervisor_replaces_a_dead_worker_and_the_new_one_serves(stack: Stack, ws_url: str) -> None:
    with extra_counter(stack, "counter-super") as second_url:
        supervisor = stack.processes["counter-super"].pid
        before = process_tree(supervisor)[1:]
        assert len(before) == 2  # WORKERS=2
        killed = before[0]

        async def scenario() -> None:
            async with observed(ws_url) as (observer, base):
                os.kill(killed, signal.SIGKILL)
                await eventually(
                    lambda: len(set(process_tree(supervisor)[1:]) - set(before)) == 1,
                    TIMEOUT,
                    lambda: f"no new worker beside {before}: {process_tree(supervisor)}",
                )
                [replacement] = set(process_tree(supervisor)[1:]) - set(before)
                # The new worker takes connections (the kernel spreads them over both) and is counted.
                clients = await open_clients(second_url, 20)
                await all_see([observer, *clients], base + 20, timeout=STALE_TIMEOUT)
                rows = await presence_rows(stack)
                assert any(worker_of(i) == replacement and n > 0 for i, n in rows.items()), rows
                await close_all(clients)
                await all_see([observer], base)

        run(scenario())


@pytest.mark.native
def test_the_count_stays_live_during_a_database_outage_and_is_exact_after(
    stack: Stack, faults: Faults, ws_url: str
) -> None:
    """Without the database each process still counts its own sockets live (one worker here, so
    all of its clients are its own); when the database is back every process has the exact total."""
    with extra_counter(stack, "counter-outage", env={"WORKERS": "1"}) as single_url:

        async def scenario() -> None:
            async with observed(ws_url) as (observer, base):
                first = await Client.open(single_url)
                await all_see([observer, first], base + 1)
                await asyncio.to_thread(faults.stop, "postgres")
                joined = await open_clients(single_url, 3)
                await all_see([first, *joined], base + 4)
                await close_all(joined[:1])
                await all_see([first, *joined[1:]], base + 3)
                assert observer.close_code is None and first.close_code is None
                await asyncio.to_thread(faults.start, "postgres")
                await all_see([observer, first, *joined[1:]], base + 3, timeout=STALE_TIMEOUT)
                assert sum((await presence_rows(stack)).values()) == base + 3
                await close_all([first, *joined[1:]])
                await all_see([observer], base)

        run(scenario())


LISTENERS = "SELECT pid FROM pg_stat_activity WHERE usename = 'counter' AND query LIKE 'LISTEN %'"


@pytest.mark.native
def test_a_listen_connection_that_dies_comes_back_and_carries_changes_again(stack: Stack) -> None:
    """Every counter process's LISTEN connection is terminated. They must reconnect; then a change
    on another process reaches this instance by NOTIFY, not by its heartbeat's re-read: its row's
    heartbeat time (which only its heartbeat moves while its own sockets do not change) is the same
    before and after the change arrived."""
    env = {"WORKERS": "1", "HEARTBEAT_SECONDS": "3"}
    main_url = stack.service_url("counter").replace("http", "ws", 1)
    with extra_counter(stack, "counter-listen", env=env) as listening_url:

        async def scenario() -> None:
            async with connected(stack.superuser_dsn()) as superuser, observed(listening_url) as (watcher, base):
                [own_row] = await superuser.fetch(
                    "SELECT instance_id FROM counter_presence WHERE instance_id LIKE $1",
                    f"%:{process_tree(stack.processes['counter-listen'].pid)[1]}:%",
                )
                old = {row["pid"] for row in await superuser.fetch(LISTENERS)}
                assert len(old) >= 3, old  # the stack's two workers and this one
                await superuser.execute(f"SELECT pg_terminate_backend(pid) FROM ({LISTENERS}) l")

                async def listening_again() -> bool:
                    return len({row["pid"] for row in await superuser.fetch(LISTENERS)} - old) == len(old)

                await eventually(listening_again, STALE_TIMEOUT, "the LISTEN connections never came back")

                async def heartbeat() -> object:
                    return await superuser.fetchval(
                        "SELECT heartbeat_at FROM counter_presence WHERE instance_id = $1", own_row["instance_id"]
                    )

                by_notify = 0
                for attempt in range(5):  # a heartbeat may fall between; then the round proves nothing
                    beat = await heartbeat()
                    change = await Client.open(main_url)
                    await all_see([watcher], base + 1)
                    by_notify += await heartbeat() == beat
                    await change.close()
                    await all_see([watcher], base)
                assert by_notify, "every change arrived with a heartbeat, never by NOTIFY"

        run(scenario())


@pytest.mark.native
def test_a_presence_write_is_one_round_trip(stack: Stack, ws_url: str) -> None:
    """The presence pool skips asyncpg's reset on release (a second round trip per write, under the
    write lock): every pool connection's last statement is the counter's own, never the reset."""

    async def scenario() -> None:
        async with observed(ws_url) as (observer, base):
            client = await Client.open(ws_url)  # writes, then heartbeats on every process
            await all_see([observer, client], base + 1)
            await asyncio.sleep(1.5)
            async with connected(stack.database_url("counter", with_password=True)) as connection:
                queries = await connection.fetch(
                    "SELECT query FROM pg_stat_activity WHERE usename = 'counter' AND pid <> pg_backend_pid()"
                )
            await client.close()
        last = [row["query"] for row in queries]
        assert any("counter_presence" in query and "INSERT" in query for query in last), last
        assert not any("RESET ALL" in query for query in last), last

    run(scenario())


async def raw_websocket(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A websocket client that never answers pings: the handshake by hand, then frames as bytes."""
    reader, writer = await asyncio.open_connection(host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    status = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    assert status.startswith(b"HTTP/1.1 101"), status
    return reader, writer


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first, second = await reader.readexactly(2)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
    return first & 0x0F, await reader.readexactly(length)


@pytest.mark.native
def test_idle_clients_are_pinged_and_a_silent_peer_is_dropped(stack: Stack, ws_url: str) -> None:
    async def scenario() -> None:
        with extra_counter(stack, "counter-ping", env={"PING_INTERVAL_SECONDS": "1"}) as second_url:
            port = int(second_url.rsplit(":", 1)[1])
            async with observed(ws_url) as (observer, base):
                answering = await Client.open(second_url)  # websockets answers pings by itself
                reader, writer = await raw_websocket("127.0.0.1", port)
                await all_see([observer, answering], base + 2)
                opcodes = []
                while 0x9 not in opcodes:
                    opcode, _ = await asyncio.wait_for(read_frame(reader), TIMEOUT)
                    opcodes.append(opcode)
                # No pong from the raw client: dropped after one more interval; the other stays.
                await all_see([observer, answering], base + 1)
                assert answering.close_code is None
                writer.close()
                await answering.close()

    run(scenario())


@pytest.mark.native
def test_a_socket_being_closed_is_sent_no_count_after_its_close_frame(stack: Stack, ws_url: str) -> None:
    """Counts are written to the sockets directly (server.send_to_all): one the server is closing
    must be skipped, or its client would get a data frame after the close frame."""

    async def scenario() -> None:
        port = int(stack.service_url("counter").rsplit(":", 1)[1])
        async with observed(ws_url) as (observer, base):
            reader, writer = await raw_websocket("127.0.0.1", port)
            await all_see([observer], base + 1)
            # A flood: the server sends 1008 and waits its close timeout (2 s) for our close frame,
            # which never comes; until then the socket still counts, and is closing.
            for _ in range(30):
                writer.write(bytes([0x81, 0x80 | 4]) + b"\0\0\0\0spam")  # masked (zero mask) "spam"
            opcode, payload = 0, b""
            while opcode != 0x8:
                opcode, payload = await asyncio.wait_for(read_frame(reader), TIMEOUT)
            assert struct.unpack("!H", payload[:2])[0] == CloseCode.POLICY_VIOLATION
            newcomer = await Client.open(ws_url)  # a change while our socket is closing
            await eventually(lambda: base + 2 in observer.counts, TIMEOUT, lambda: f"counts {observer.counts}")
            after_close = []
            try:
                while True:  # until the server gives up on us and ends the connection
                    after_close.append((await asyncio.wait_for(read_frame(reader), TIMEOUT))[0])
            except asyncio.IncompleteReadError:
                pass
            assert after_close == [], f"frames after the close frame: opcodes {after_close}"
            writer.close()
            await newcomer.close()

    run(scenario())


def test_health_route_is_plain_http(base_url: str) -> None:
    response = httpx.get(f"{base_url}/counter/healthz", timeout=TIMEOUT)
    assert (response.status_code, response.text) == (200, "ok\n")


def test_plain_http_on_the_websocket_route_is_refused(base_url: str) -> None:
    response = httpx.get(f"{base_url}/counter", timeout=TIMEOUT)
    assert response.status_code == 426  # Upgrade Required


# -- compose: replicas behind nginx ----------------------------------------------------------------


def compose(*args: str) -> str:
    project = os.environ["STACK_COMPOSE_PROJECT"]
    command = ["docker", "compose", "-p", project, *args]
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=300).stdout


def sockets_per_container() -> dict[str, int]:
    """Connections each counter container holds now (its workers' fresh presence rows summed)."""
    query = (
        "SELECT split_part(instance_id, ':', 1), sum(connections) FROM counter_presence"
        " WHERE heartbeat_at > now() - interval '5 s' GROUP BY 1"
    )
    psql = ["psql", "-U", "postgres", "-d", "products", "-tA", "-F", " ", "-c", query]
    out = compose("exec", "-T", "postgres", *psql)
    return {host: int(count) for host, count in (line.split() for line in out.splitlines() if line.strip())}


def wait_for_containers(n: int) -> None:
    wait_until(lambda: len(sockets_per_container()) == n, 60, lambda: f"not {n}: {sockets_per_container()}", 0.5)


@pytest.mark.compose
def test_a_scaled_out_counter_gets_sockets_without_restarting_nginx(ws_url: str, base_url: str) -> None:
    """docker compose up --scale counter=2: nginx finds the new replica by itself (it resolves the
    name again every 5 s), new sockets spread over both, and every client sees the one total."""
    compose("up", "-d", "--wait", "--no-recreate", "--scale", "counter=2", "counter")
    try:
        wait_for_containers(2)

        async def scenario() -> None:
            async with observed(ws_url) as (observer, base):
                deadline = time.monotonic() + 30  # nginx may hold the one-replica answer for 5 s
                while True:
                    clients = await open_clients(ws_url, 30)
                    await all_see([observer, *clients], base + 30)
                    holding = [count for count in sockets_per_container().values() if count > 0]
                    if len(holding) == 2 or time.monotonic() > deadline:
                        break
                    await close_all(clients)
                    await asyncio.sleep(1)
                await close_all(clients)
                # 30 new sockets all on one replica by chance: about 1 in 500 million.
                assert len(holding) == 2, f"the new replica got no socket: {sockets_per_container()}"
                await all_see([observer], base)

        run(scenario())
    finally:
        compose("up", "-d", "--wait", "--no-recreate", "--scale", "counter=1", "counter")
        wait_for_containers(1)
        # Until nginx's cached answer with the removed replica expires (it resolves every 5 s).
        wait_until(
            lambda: all(healthy(f"{base_url}/counter") for _ in range(5)), 30, "nginx still tries the removed replica"
        )
