"""Time of day (as the classic aiohttp example serves it) and the health probes."""

import datetime

import asyncpg
from fastapi import APIRouter, Request

from api.db import DATABASE_UNAVAILABLE
from api.errors import Error, error_response
from api.models import Status, TimeOfDay

router = APIRouter(tags=["system"])


@router.get("/time")
async def time_of_day() -> TimeOfDay:
    today = datetime.datetime.today()
    return TimeOfDay(month=today.month, day=today.day, time=str(today.time()))


@router.get("/healthz")
async def healthz() -> Status:
    """The process is alive and serving; says nothing about the database."""
    return Status(status="ok")


@router.get("/readyz", responses={503: {"model": Error, "description": "Database unreachable"}})
async def readyz(request: Request) -> Status:
    """Ready when a query round-trips to the database."""
    pool: asyncpg.Pool = request.app.state.pool
    try:
        async with pool.acquire(timeout=2) as connection:
            await connection.fetchval("SELECT 1", timeout=2)
    except DATABASE_UNAVAILABLE:
        return error_response(503, "the database is unavailable")
    return Status(status="ready")
