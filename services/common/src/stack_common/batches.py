"""Concurrent requests share one database round trip, each with its own item and its own answer.

Under load many requests for one kind of work (a product by id, a new product) arrive per round
trip. Each caller's item joins the *next* batch to start, never one already running: a query that
began before a request arrived could miss a write acknowledged in between, so joining it would
answer with stale data. One call of `run(items)` serves a whole batch and returns one answer per
item, in order; every caller gets its own. While a batch runs, the next one fills, so the database
sees one statement per round trip instead of one per request. Nothing is kept once a batch is
answered.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Answer = TypeVar("Answer")


class Batches(Generic[Item, Answer]):
    """`await batches.submit(item)` → this item's answer from the next `run(items)` to start."""

    def __init__(
        self,
        run: Callable[[list[Item]], Awaitable[Sequence[Answer]]],
        observe_batch: Callable[[int], None] | None = None,
    ) -> None:
        """`observe_batch`: told each run's number of items (stack_common.metrics.batch_size_observer)."""
        self._run = run
        self._observe_batch = observe_batch
        # The next batch: each waiting caller's item and the future its answer goes to. A future per
        # caller rather than one shared by the batch: a caller that goes away cancels its own only,
        # not the run the others wait for, and needs no asyncio.shield (a future and two callbacks
        # more per request, 5 % of a worker's CPU on a point read).
        self._waiting: list[tuple[Item, asyncio.Future[Answer]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Answer:
        answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, answer))
        if self._runner is None:
            self._runner = asyncio.create_task(self._run_batches())
        return await answer

    async def _run_batches(self) -> None:
        try:
            while self._waiting:
                # Callers from now on join the batch after this one.
                batch, self._waiting = self._waiting, []
                items = [item for item, _ in batch]
                if self._observe_batch is not None:
                    self._observe_batch(len(items))
                try:
                    result = await self._run(items)
                    if len(result) != len(items):
                        raise RuntimeError(f"a batch of {len(items)} items got {len(result)} answers")
                except asyncio.CancelledError:
                    for _, answer in batch:
                        answer.cancel()
                    raise
                except Exception as exc:
                    for _, answer in batch:
                        if not answer.done():  # done: its caller went away
                            answer.set_exception(exc)
                else:
                    for (_, answer), value in zip(batch, result):
                        if not answer.done():
                            answer.set_result(value)
        finally:
            self._runner = None
