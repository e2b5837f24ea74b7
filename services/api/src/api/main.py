"""The application: gunicorn serves `api.main:app` (see gunicorn_conf.py)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from stack_common.fresh_reads import FreshReads
from stack_common.metrics import batch_size_observer

from api import errors
from api.auth import WriteTokens
from api.db import create_pool
from api.metrics import RequestMetrics
from api.request_ids import RequestIds
from api.routes import brands, products, system
from api.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await create_pool(settings)
        observe_batch = batch_size_observer("brands") if settings.metrics_on else None
        app.state.brands_json = FreshReads(lambda: brands.read_brands_json(app.state.pool), observe_batch)
        try:
            yield
        finally:
            await app.state.pool.close()

    app = FastAPI(
        title="Shop API",
        summary="Brands and products from the shared PostgreSQL catalogue.",
        version="0.1.0",
        lifespan=lifespan,
        responses=errors.TOO_MANY_REQUESTS,
    )
    app.state.write_tokens = WriteTokens(settings.write_tokens_file)
    errors.install(app)
    app.add_middleware(RequestIds)
    if settings.metrics_on:  # added last, so outermost: it sees every answer as the client gets it
        app.add_middleware(RequestMetrics)
    for module in (brands, products, system):
        app.include_router(module.router)
    return app


app = create_app()
