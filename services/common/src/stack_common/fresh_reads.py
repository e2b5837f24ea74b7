"""Concurrent identical reads share one query, and never see data older than their own arrival.

Under load a hot read (every brand) arrives many times per database round trip. Each caller joins
the *next* query to start, never one already running: a query that began before a request arrived
could miss a write acknowledged in between, so joining it would serve stale data. Every answer is
therefore as fresh as one query per request would give, while the database runs one query per round
trip instead of one per request and the JSON is encoded once per batch. This is not a cache:
nothing is kept once a batch is answered.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class FreshReads(Generic[T]):
    """`await reads.get()`: the result of the next `read()` to start. With `observe_batch`, each
    query reports how many callers it answered (stack_common.metrics.batch_size_observer)."""

    def __init__(
        self, read: Callable[[], Awaitable[T]], observe_batch: Callable[[int], None] | None = None
    ) -> None:
        self._read = read
        self._observe_batch = observe_batch
        self._next_batch: asyncio.Future[T] | None = None  # callers waiting for the next query
        self._callers = 0  # how many callers that batch has
        self._runner: asyncio.Task[None] | None = None

    async def get(self) -> T:
        self._callers += 1
        if self._next_batch is None:
            self._next_batch = asyncio.get_running_loop().create_future()
            # Retrieve an error even if every caller of the batch went away, so it is not logged
            # as "never retrieved".
            self._next_batch.add_done_callback(lambda batch: batch.cancelled() or batch.exception())
            if self._runner is None:
                self._runner = asyncio.create_task(self._run_batches())
        # shield: a caller that goes away does not cancel the query the others wait for.
        return await asyncio.shield(self._next_batch)

    async def _run_batches(self) -> None:
        try:
            while (batch := self._next_batch) is not None:
                self._next_batch = None  # callers from now on wait for the query after this one
                callers, self._callers = self._callers, 0
                if self._observe_batch is not None:
                    self._observe_batch(callers)
                try:
                    batch.set_result(await self._read())
                except asyncio.CancelledError:
                    batch.cancel()
                    raise
                except Exception as exc:
                    batch.set_exception(exc)
        finally:
            self._runner = None
