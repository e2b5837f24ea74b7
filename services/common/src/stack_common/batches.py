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
        self._items: list[Item] = []  # the next batch: items of the callers waiting for it
        self._answers: asyncio.Future[Sequence[Answer]] | None = None  # its answers, in item order
        self._runner: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Answer:
        if self._answers is None:
            self._answers = asyncio.get_running_loop().create_future()
            # Retrieve an error even if every caller of the batch went away, so it is not logged
            # as "never retrieved".
            self._answers.add_done_callback(lambda batch: batch.cancelled() or batch.exception())
            if self._runner is None:
                self._runner = asyncio.create_task(self._run_batches())
        position = len(self._items)
        self._items.append(item)
        # shield: a caller that goes away does not cancel the query the others wait for.
        return (await asyncio.shield(self._answers))[position]

    async def _run_batches(self) -> None:
        try:
            while (answers := self._answers) is not None:
                # Callers from now on join the batch after this one.
                items, self._items, self._answers = self._items, [], None
                if self._observe_batch is not None:
                    self._observe_batch(len(items))
                try:
                    result = await self._run(items)
                    if len(result) != len(items):
                        raise RuntimeError(f"a batch of {len(items)} items got {len(result)} answers")
                    answers.set_result(result)
                except asyncio.CancelledError:
                    answers.cancel()
                    raise
                except Exception as exc:
                    answers.set_exception(exc)
        finally:
            self._runner = None
