"""Batched reads are as fresh as one query per request: under concurrent load on /brands, a brand
committed a moment ago is in the very next answer of both services, and a deleted one is gone."""

import asyncio

import httpx
import pytest

from dev.stack import Stack
from tests.helpers import connected


@pytest.mark.native
def test_brands_reflect_every_acknowledged_write_under_load(stack: Stack) -> None:
    async def scenario() -> list[str]:
        problems: list[str] = []
        stop = asyncio.Event()
        async with (
            connected(stack.superuser_dsn()) as superuser,  # the app role may not write brands
            httpx.AsyncClient(base_url=stack.http_url, timeout=10) as client,
        ):

            async def background_load(path: str) -> None:
                while not stop.is_set():
                    await client.get(path)

            load = [asyncio.create_task(background_load(p)) for p in ("/api/brands", "/legacy/brands") * 16]
            try:
                for round_number in range(20):
                    name = f"Freshness Probe {round_number}"
                    brand_id = await superuser.fetchval(
                        "INSERT INTO brand (brand_name) VALUES ($1) RETURNING brand_id", name
                    )
                    for path in ("/api/brands", "/legacy/brands"):
                        if {"brand_id": brand_id, "brand_name": name} not in (await client.get(path)).json():
                            problems.append(f"{path} missed brand {brand_id} after its insert committed")
                    await superuser.execute("DELETE FROM brand WHERE brand_id = $1", brand_id)
                    for path in ("/api/brands", "/legacy/brands"):
                        if any(b["brand_id"] == brand_id for b in (await client.get(path)).json()):
                            problems.append(f"{path} still had brand {brand_id} after its delete committed")
            finally:
                stop.set()
                await asyncio.gather(*load)
        return problems

    assert asyncio.run(scenario()) == []
