"""Concurrent reads share one query, and never see data older than their own arrival.

Under load a hot read (every brand, a product by id) arrives many times per database round trip.
Each caller joins the *next* query to start, never one already running (stack_common.batches): a
query that began before a request arrived could miss a write acknowledged in between, so joining it
would serve stale data. Every answer is therefore as fresh as one query per request would give,
while the database runs one query per round trip instead of one per request. This is not a cache:
nothing is kept once a batch is answered.
"""

from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Generic, TypeVar

from stack_common.batches import Batches

T = TypeVar("T")
Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")


class FreshReads(Generic[T]):
    """One read with no arguments (the whole brand list): every caller of a batch gets its result,
    encoded once per batch. With `observe_batch`, each query reports how many callers it answered
    (stack_common.metrics.batch_size_observer)."""

    def __init__(
        self, read: Callable[[], Awaitable[T]], observe_batch: Callable[[int], None] | None = None
    ) -> None:
        self._read = read
        self._batches: Batches[None, T] = Batches(self._read_batch, observe_batch)

    async def get(self) -> T:
        return await self._batches.submit(None)

    async def _read_batch(self, callers: list[None]) -> list[T]:
        return [await self._read()] * len(callers)


class FreshKeyedReads(Generic[Key, Value]):
    """Reads by key (a row by its id): `read_many(keys)` answers a batch in one query
    (`WHERE id = ANY($1)`) and returns what it found by key; each caller gets its own key's value,
    or None when there is none (its own 404)."""

    def __init__(
        self,
        read_many: Callable[[list[Key]], Awaitable[Mapping[Key, Value]]],
        observe_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._read_many = read_many
        self._batches: Batches[Key, Value | None] = Batches(self._read_batch, observe_batch)

    async def get(self, key: Key) -> Value | None:
        return await self._batches.submit(key)

    async def _read_batch(self, keys: list[Key]) -> list[Value | None]:
        found = await self._read_many(list(dict.fromkeys(keys)))  # each key once
        return [found.get(key) for key in keys]
