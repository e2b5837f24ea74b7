"""Time of day (as the classic aiohttp example serves it) and the health probes."""

import datetime

from fastapi import APIRouter

from api.db import CONNECT_TIMEOUT, Connection
from api.errors import UNAVAILABLE
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


@router.get("/readyz", responses=UNAVAILABLE)
async def readyz(db: Connection) -> Status:
    """Ready when a query round-trips to the database; 503 (like every route here) when it cannot."""
    await db.fetchval("SELECT 1", timeout=CONNECT_TIMEOUT)
    return Status(status="ready")
