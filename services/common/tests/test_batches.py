"""Batches: one run per batch of concurrent callers, each caller its own answer (the api's batched
inserts use it directly; FreshReads and FreshKeyedReads are built on it)."""

import asyncio

import pytest
from stack_common.batches import Batches


def test_each_caller_gets_the_answer_for_its_own_item_from_one_run() -> None:
    runs: list[list[str]] = []

    async def shout(items: list[str]) -> list[str]:
        runs.append(items)
        await asyncio.sleep(0.01)
        return [item.upper() for item in items]

    async def scenario() -> list[str]:
        batches = Batches(shout)
        return await asyncio.gather(*(batches.submit(item) for item in ["a", "b", "a", "c"]))

    assert asyncio.run(scenario()) == ["A", "B", "A", "C"]
    assert runs == [["a", "b", "a", "c"]]  # duplicates kept: two inserts of the same row are two rows


def test_callers_arriving_during_a_run_form_the_next_batch() -> None:
    runs: list[list[int]] = []

    async def scenario() -> list[int]:
        go = asyncio.Event()

        async def double(items: list[int]) -> list[int]:
            runs.append(items)
            await go.wait()
            return [item * 2 for item in items]

        batches = Batches(double)
        first = [asyncio.create_task(batches.submit(n)) for n in (1, 2)]
        while not runs:
            await asyncio.sleep(0)
        second = [asyncio.create_task(batches.submit(n)) for n in (3, 4, 5)]
        await asyncio.sleep(0)
        go.set()
        return await asyncio.gather(*first, *second)

    assert asyncio.run(scenario()) == [2, 4, 6, 8, 10]
    assert runs == [[1, 2], [3, 4, 5]]


def test_a_run_with_a_wrong_number_of_answers_fails_its_callers_not_silently() -> None:
    async def one_short(items: list[int]) -> list[int]:
        return items[1:]

    async def scenario() -> None:
        batches = Batches(one_short)
        await asyncio.gather(batches.submit(1), batches.submit(2))

    with pytest.raises(RuntimeError, match="a batch of 2 items got 1 answers"):
        asyncio.run(scenario())
