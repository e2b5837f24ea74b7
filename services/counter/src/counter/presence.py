"""The deployment-wide count, kept in PostgreSQL.

Every worker process owns one row of `counter_presence` with the number of sockets it holds and a
heartbeat. When its number changes it rewrites the row and NOTIFYs the others, the payload carrying
the new number so nobody has to query. Every heartbeat each process also re-reads the fresh rows,
which drops processes that died without cleaning up (their heartbeat goes stale).

The count a process shows is (fresh rows of the others) + (its own sockets, known locally), so a
local connect is visible at once and a database outage only freezes the others' part.
"""

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable

import asyncpg

from counter.settings import Settings

log = logging.getLogger(__name__)
CHANNEL = "counter_presence"


class Presence:
    def __init__(self, settings: Settings, on_change: Callable[[int], None]) -> None:
        self.settings = settings
        self.instance_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.local = 0
        self.others: dict[str, int] = {}
        self._on_change = on_change
        self._shown: int | None = None
        self._dirty = asyncio.Event()
        self._pool: asyncpg.Pool | None = None
        self._tasks: list[asyncio.Task] = []

    @property
    def total(self) -> int:
        return self.local + sum(self.others.values())

    def set_local(self, count: int) -> None:
        """Called on every local connect and disconnect."""
        self.local = count
        self._announce()
        self._dirty.set()

    async def start(self) -> None:
        self._pool = await asyncpg.create_pool(
            self.settings.database_url,
            password=self.settings.database_password(),
            min_size=0,
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
        if self._pool is not None:
            try:
                # Leave at once rather than waiting to go stale, and tell the others.
                await self._pool.execute(
                    "WITH gone AS (DELETE FROM counter_presence WHERE instance_id = $1)"
                    " SELECT pg_notify($2, $1 || ' 0')",
                    self.instance_id,
                    CHANNEL,
                )
            except Exception:
                log.warning("could not remove presence row %s", self.instance_id, exc_info=True)
            await self._pool.close()

    def _announce(self) -> None:
        total = self.total
        if total != self._shown:
            self._shown = total
            self._on_change(total)

    async def _publish_loop(self) -> None:
        # Coalesces bursts: a thousand connects while one write is in flight cost one more write.
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self._write_row()
            except Exception as exc:
                log.warning("presence write failed, will retry: %s", exc)
                self._dirty.set()
                await asyncio.sleep(self.settings.heartbeat_seconds)

    async def _write_row(self) -> None:
        assert self._pool is not None
        await self._pool.execute(
            """
            WITH upsert AS (
                INSERT INTO counter_presence (instance_id, connections, heartbeat_at)
                VALUES ($1, $2, now())
                ON CONFLICT (instance_id)
                DO UPDATE SET connections = EXCLUDED.connections, heartbeat_at = now()
            )
            SELECT pg_notify($3, $4)
            """,
            self.instance_id,
            self.local,
            CHANNEL,
            f"{self.instance_id} {self.local}",
        )

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            try:
                await self._refresh()
            except Exception as exc:
                log.warning("presence heartbeat failed: %s", exc)

    async def _refresh(self) -> None:
        """Renew our row, drop stale ones, and re-read everyone else's."""
        assert self._pool is not None
        stale = self.settings.stale_after_seconds
        async with self._pool.acquire() as connection:
            await connection.execute(
                "UPDATE counter_presence SET heartbeat_at = now() WHERE instance_id = $1",
                self.instance_id,
            )
            rows = await connection.fetch(
                """
                SELECT instance_id, connections FROM counter_presence
                WHERE heartbeat_at > now() - make_interval(secs => $1) AND instance_id <> $2
                """,
                stale,
                self.instance_id,
            )
        self.others = {row["instance_id"]: row["connections"] for row in rows}
        self._announce()

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
                await self._refresh()
                await self._write_row()  # others may have missed us while we were away
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

    def _on_notify(self, connection: object, pid: int, channel: str, payload: str) -> None:
        instance_id, _, count = payload.rpartition(" ")
        if instance_id == self.instance_id:
            return
        if int(count) > 0:
            self.others[instance_id] = int(count)
        else:
            self.others.pop(instance_id, None)
        self._announce()
