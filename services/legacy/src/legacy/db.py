"""The connection pool (stack_common.database.FairPool), opened and closed with the application
(cleanup_ctx), under a typed key."""

from collections.abc import AsyncIterator, Callable

from aiohttp import web
from stack_common.database import FairPool
from stack_common.metrics import PoolMetrics

from legacy.settings import Settings

POOL = web.AppKey("pool", FairPool)


def pool_context(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def open_pool(app: web.Application) -> AsyncIterator[None]:
        # min_size 0: start (and stay up) while the database is away and connect on demand; the
        # timeouts turn a dead database into a prompt 503 instead of a hung request.
        app[POOL] = await FairPool.create(
            settings.database_url,
            metrics=PoolMetrics(settings.db_pool_max) if settings.metrics_on else None,
            password=settings.database_password(),
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            timeout=2,
            command_timeout=5,
        )
        # Closed after the server has drained in-flight requests (graceful shutdown).
        try:
            yield
        finally:
            await app[POOL].close()

    return open_pool
