"""The deployment-wide count, kept in PostgreSQL.

Every worker process owns one row of `counter_presence` holding the number of sockets it has and a
heartbeat. When its number changes it rewrites the row and NOTIFYs the others, the payload carrying
the new number (`"<instance_id> <count>"`) so nobody has to query. Every heartbeat each process also
re-writes its row (which heals a lost write or a row purged while we were paused), deletes rows whose
heartbeat went stale (processes that died without cleaning up) and re-reads everyone else's.

The count a process shows is (fresh rows of the others) + (its own sockets, known locally), so a
local connect is visible at once and a database outage only freezes the others' part.
"""

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable

import asyncpg
from stack_common.database import keep_session_state

from counter.metrics import WorkerMetrics
from counter.settings import Settings

log = logging.getLogger(__name__)
CHANNEL = "counter_presence"

UPSERT_AND_NOTIFY = """
WITH upsert AS (
    INSERT INTO counter_presence (instance_id, connections, heartbeat_at)
    VALUES ($1, $2, now())
    ON CONFLICT (instance_id) DO UPDATE SET connections = EXCLUDED.connections, heartbeat_at = now()
)
SELECT pg_notify($3, $1 || ' ' || $2::text)
"""

# One round trip per heartbeat. SKIP LOCKED: two processes purging the same stale row never wait on
# each other. The final SELECT sees the snapshot before the CTEs ran, which is why it filters on
# freshness itself and leaves out our own row.
HEARTBEAT = """
WITH upsert AS (
    INSERT INTO counter_presence (instance_id, connections, heartbeat_at)
    VALUES ($1, $2, now())
    ON CONFLICT (instance_id) DO UPDATE SET connections = EXCLUDED.connections, heartbeat_at = now()
), purge AS (
    DELETE FROM counter_presence WHERE instance_id IN (
        SELECT instance_id FROM counter_presence
        WHERE heartbeat_at < now() - make_interval(secs => $3) AND instance_id <> $1
        FOR UPDATE SKIP LOCKED
    )
)
SELECT instance_id, connections FROM counter_presence
WHERE heartbeat_at >= now() - make_interval(secs => $3) AND instance_id <> $1
"""

LEAVE = """
WITH gone AS (DELETE FROM counter_presence WHERE instance_id = $1)
SELECT pg_notify($2, $1 || ' 0')
"""


class Presence:
    def __init__(
        self, settings: Settings, on_change: Callable[[], None], metrics: WorkerMetrics | None = None
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.instance_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.local = 0
        self.others: dict[str, int] = {}
        self._on_change = on_change
        self._dirty = asyncio.Event()
        # A local change not yet sent to the database (see publish_pending).
        self._unsent = False
        # Serialises every write of our row, so an older count never lands after a newer one, and
        # the final DELETE cannot be overtaken by an upsert still in flight.
        self._write_lock = asyncio.Lock()
        self._left = False
        # While a read of the table is in flight, notifications are newer than (or as new as) what
        # it returns; each read collects them here and re-applies them on top of its result.
        self._reads_in_flight: list[dict[str, int]] = []
        self._pool: asyncpg.Pool | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def total(self) -> int:
        return self.local + sum(self.others.values())

    def set_local(self, count: int) -> None:
        """Called on every local connect and disconnect."""
        self.local = count
        self._unsent = True
        self._dirty.set()

    @property
    def publish_pending(self) -> bool:
        """A local change the other processes have not been sent yet: its write starts on the next
        loop iteration. The server lets it go first, so the others' fan-outs start alongside ours
        rather than after it."""
        return self._unsent

    async def start(self) -> None:
        # Not the services' FairPool: every statement here runs under _write_lock (FIFO), so the pool
        # never has two callers, let alone a queue to be unfair in. What FairPool.create also does is
        # taken: no reset round trip on release (nothing here sets session state; LISTEN has its own
        # connection), so a presence write holds the lock for one round trip, not two.
        self._pool = await asyncpg.create_pool(
            self.settings.database_url,
            password=self.settings.database_password(),
            reset=keep_session_state,
            min_size=self.settings.db_pool_min,
            max_size=self.settings.db_pool_max,
            timeout=2,
            command_timeout=5,
        )
        self._tasks = [
            asyncio.create_task(self._publish_loop(), name="publish"),
            asyncio.create_task(self._heartbeat_loop(), name="heartbeat"),
            asyncio.create_task(self._listen_loop(), name="listen"),
        ]
        self._dirty.set()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._pool is None:
            return
        async with self._write_lock:  # waits for a shielded write still in flight
            self._left = True
            try:
                # Leave at once rather than waiting to go stale, and tell the others.
                await self._pool.execute(LEAVE, self.instance_id, CHANNEL)
            except Exception:
                log.warning("could not remove presence row %s", self.instance_id, exc_info=True)
        await self._pool.close()

    async def _write(self, query: str, *args: object) -> list[asyncpg.Record]:
        """Run a write of our row to completion even if the caller is cancelled (see _write_lock)."""

        async def locked() -> list[asyncpg.Record]:
            assert self._pool is not None
            async with self._write_lock:
                if self._left:
                    return []
                if query is UPSERT_AND_NOTIFY:
                    self._unsent = False  # the fetch below sends it before it first waits
                return await self._pool.fetch(query, *args)

        return await asyncio.shield(locked())

    async def _publish_loop(self) -> None:
        # Coalesces bursts: a thousand connects while one write is in flight cost one more write.
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self._write(UPSERT_AND_NOTIFY, self.instance_id, self.local, CHANNEL)
            except Exception as exc:
                log.warning("presence write failed, will retry: %s", exc)
                self._dirty.set()
                await asyncio.sleep(self.settings.heartbeat_seconds)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            started = time.monotonic()
            try:
                await self._refresh()
            except Exception as exc:
                log.warning("presence heartbeat failed: %s", exc)
                if self.metrics is not None:
                    self.metrics.heartbeat_failed()
            else:
                if self.metrics is not None:
                    self.metrics.heartbeat(time.monotonic() - started)

    async def _refresh(self) -> None:
        """Renew our row, drop stale ones, and re-read everyone else's."""
        heard: dict[str, int] = {}
        self._reads_in_flight.append(heard)
        try:
            rows = await self._write(HEARTBEAT, self.instance_id, self.local, self.settings.stale_after_seconds)
        finally:
            self._reads_in_flight.remove(heard)
        others = {row["instance_id"]: row["connections"] for row in rows if row["connections"] > 0}
        for instance_id, count in heard.items():
            self._apply(others, instance_id, count)
        if others != self.others:
            self.others = others
            self._on_change()

    async def _listen_loop(self) -> None:
        # LISTEN needs a connection of its own: the pool runs UNLISTEN * on every release.
        while True:
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(
                    self.settings.database_url, password=self.settings.database_password(), timeout=2
                )
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _: lost.set())
                await connection.add_listener(CHANNEL, self._on_notify)
                # Listening first, then reading: nothing said in between is missed.
                await self._refresh()
                self._dirty.set()  # others may have missed us while we were away
                await lost.wait()
                log.warning("presence listener lost its connection; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("presence listener cannot connect: %s", exc)
            finally:
                if connection is not None:
                    connection.terminate()
            await asyncio.sleep(self.settings.heartbeat_seconds)

    @staticmethod
    def _apply(others: dict[str, int], instance_id: str, count: int) -> None:
        if count > 0:
            others[instance_id] = count
        else:
            others.pop(instance_id, None)

    def _on_notify(self, connection: object, pid: int, channel: str, payload: str) -> None:
        instance_id, _, text = payload.rpartition(" ")
        if instance_id == self.instance_id or not text.isdigit():
            return
        count = int(text)
        for heard in self._reads_in_flight:
            heard[instance_id] = count
        if self.others.get(instance_id, 0) != count:
            self._apply(self.others, instance_id, count)
            self._on_change()
