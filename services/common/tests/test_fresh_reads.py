"""FreshReads and FreshKeyedReads batch concurrent reads without ever answering from a query that
began before the caller arrived (the api's and the legacy's /brands and products by id use them;
tests/test_fresh_reads_live.py checks them end to end)."""

import asyncio
from collections.abc import Awaitable
from typing import Any

import pytest
from stack_common.fresh_reads import FreshKeyedReads, FreshReads


class ControlledRead:
    """A read whose every run waits for the test's go, and returns its own run number."""

    def __init__(self) -> None:
        self.runs = 0
        self.go = asyncio.Event()
        self.started = asyncio.Event()

    async def __call__(self) -> int:
        self.runs += 1
        run = self.runs
        self.started.set()
        await self.go.wait()
        return run


def test_concurrent_callers_share_one_query() -> None:
    async def scenario() -> tuple[list[int], int]:
        read = ControlledRead()
        reads = FreshReads(read)
        callers = [asyncio.create_task(reads.get()) for _ in range(50)]
        await read.started.wait()
        read.go.set()
        return await asyncio.gather(*callers), read.runs

    results, runs = asyncio.run(scenario())
    assert results == [1] * 50 and runs == 1


def test_a_caller_never_joins_a_query_already_running() -> None:
    async def scenario() -> tuple[int, int, int]:
        read = ControlledRead()
        reads = FreshReads(read)
        early = asyncio.create_task(reads.get())
        await read.started.wait()  # query 1 is running
        late = asyncio.create_task(reads.get())  # arrives during query 1: must get query 2
        await asyncio.sleep(0)
        read.go.set()
        return await early, await late, read.runs

    early, late, runs = asyncio.run(scenario())
    assert (early, late, runs) == (1, 2, 2)


def test_an_error_reaches_every_caller_of_its_batch_and_the_next_batch_runs_anew() -> None:
    calls = 0

    async def failing_once() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        if calls == 1:
            raise ConnectionResetError("database went away")
        return "rows"

    async def scenario() -> tuple[list[BaseException | str], str]:
        reads = FreshReads(failing_once)
        first = await asyncio.gather(*(reads.get() for _ in range(5)), return_exceptions=True)
        return first, await reads.get()

    first, after = asyncio.run(scenario())
    assert all(isinstance(result, ConnectionResetError) for result in first)
    assert after == "rows"


async def one_goes_away(read: Any, leaving: Awaitable, staying: Awaitable) -> Any:
    """Two callers of one batch; the first goes away while the query runs. The other's answer."""
    leaving_task, staying_task = asyncio.ensure_future(leaving), asyncio.ensure_future(staying)
    await read.started.wait()
    leaving_task.cancel()
    read.go.set()
    with pytest.raises(asyncio.CancelledError):
        await leaving_task
    return await staying_task


def test_a_caller_that_goes_away_does_not_cancel_the_others() -> None:
    async def scenario() -> int:
        read = ControlledRead()
        reads = FreshReads(read)
        return await one_goes_away(read, reads.get(), reads.get())

    assert asyncio.run(scenario()) == 1


class ControlledKeyedRead:
    """A read by keys whose every run waits for the test's go; it finds every key but 404, and
    answers (run number, key)."""

    MISSING = 404

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.go = asyncio.Event()
        self.started = asyncio.Event()

    async def __call__(self, keys: list[int]) -> dict[int, tuple[int, int]]:
        self.batches.append(keys)
        run = len(self.batches)
        self.started.set()
        await self.go.wait()
        return {key: (run, key) for key in keys if key != self.MISSING}


def test_concurrent_keyed_callers_share_one_query_and_each_gets_its_own_row_or_none() -> None:
    async def scenario() -> tuple[list[tuple[int, int] | None], list[list[int]]]:
        read = ControlledKeyedRead()
        reads = FreshKeyedReads(read)
        keys = [1, 2, 404, 3, 2, 1]
        callers = [asyncio.create_task(reads.get(key)) for key in keys]
        await read.started.wait()
        read.go.set()
        return await asyncio.gather(*callers), read.batches

    results, batches = asyncio.run(scenario())
    assert results == [(1, 1), (1, 2), None, (1, 3), (1, 2), (1, 1)]
    assert batches == [[1, 2, 404, 3]]  # one query, each key asked once


def test_a_keyed_caller_never_joins_a_query_already_running() -> None:
    async def scenario() -> tuple[tuple[int, int] | None, tuple[int, int] | None, list[list[int]]]:
        read = ControlledKeyedRead()
        reads = FreshKeyedReads(read)
        early = asyncio.create_task(reads.get(7))
        await read.started.wait()  # query 1, for key 7, is running
        late = asyncio.create_task(reads.get(7))  # the same key, arriving now: must get query 2
        await asyncio.sleep(0)
        read.go.set()
        return await early, await late, read.batches

    early, late, batches = asyncio.run(scenario())
    assert (early, late) == ((1, 7), (2, 7))
    assert batches == [[7], [7]]


def test_a_keyed_error_reaches_every_caller_of_its_batch_only() -> None:
    calls = 0

    async def failing_once(keys: list[int]) -> dict[int, str]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        if calls == 1:
            raise ConnectionResetError("database went away")
        return {key: f"row {key}" for key in keys}

    async def scenario() -> tuple[list[BaseException | str | None], str | None]:
        reads = FreshKeyedReads(failing_once)
        first = await asyncio.gather(*(reads.get(key) for key in range(5)), return_exceptions=True)
        return first, await reads.get(3)

    first, after = asyncio.run(scenario())
    assert all(isinstance(result, ConnectionResetError) for result in first)
    assert after == "row 3"


def test_a_keyed_caller_that_goes_away_does_not_cancel_the_others() -> None:
    async def scenario() -> tuple[int, int] | None:
        read = ControlledKeyedRead()
        reads = FreshKeyedReads(read)
        return await one_goes_away(read, reads.get(1), reads.get(2))

    assert asyncio.run(scenario()) == (1, 2)
