"""The application: gunicorn serves `api.main:app` (see gunicorn_conf.py)."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from stack_common.batches import Batches
from stack_common.fresh_reads import FreshKeyedReads, FreshReads
from stack_common.metrics import FLUSHER, HttpMetrics, batch_size_observer

from api import errors
from api.auth import WriteTokens
from api.db import create_pool
from api.page_reads import PageReads
from api.plain_creates import PlainCreates
from api.point_reads import PointReads
from api.request_records import RequestRecords
from api.routes import brands, products, system
from api.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = pool = await create_pool(settings)

        def observed(read: str) -> Callable[[int], None] | None:
            return batch_size_observer(read) if settings.metrics_on else None

        # Concurrent reads share one query per round trip (stack_common.fresh_reads).
        app.state.brands_json = FreshReads(lambda: brands.read_brands_json(pool), observed("brands"))
        app.state.brand_by_id = FreshKeyedReads(
            lambda ids: brands.read_brands_by_id(pool, ids), observed("brand_by_id")
        )
        app.state.product_by_id = FreshKeyedReads(
            lambda ids: products.read_products_by_id(pool, ids), observed("product_by_id")
        )
        app.state.product_pages = FreshKeyedReads(
            lambda keys: products.read_pages(pool, keys), observed("product_pages")
        )
        # Concurrent creates share one INSERT per round trip.
        app.state.new_products = Batches(
            lambda new: products.insert_products(pool, new), observed("new_products")
        )
        try:
            yield
        finally:
            try:
                await app.state.pool.close()
            finally:
                # The last requests are answered: their numbers go to the files now, since uvicorn
                # ends a worker it stopped by raising the stop signal again (atexit never runs).
                if settings.metrics_on:
                    FLUSHER.flush()

    app = FastAPI(
        title="Shop API",
        summary="Brands and products from the shared PostgreSQL catalogue.",
        version="0.1.0",
        lifespan=lifespan,
        responses=errors.TOO_MANY_REQUESTS,
        # FastAPI's native OpenTelemetry: nothing here configures a provider, so it never records,
        # but left on it asks OpenTelemetry (and the environment) on every request whether it
        # should: 5 % of a worker's CPU per request in a profile of POST /products.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.write_tokens = WriteTokens(settings.write_tokens_file)
    errors.install(app)
    # The busiest requests answered ahead of FastAPI's routing; everything else passes through them.
    app.add_middleware(PlainCreates)
    app.add_middleware(PageReads)
    app.add_middleware(PointReads)
    # Added last, so outermost: every answer carries its request id and is counted as the client
    # gets it, theirs included.
    app.add_middleware(RequestRecords, metrics=HttpMetrics() if settings.metrics_on else None)
    for module in (brands, products, system):
        app.include_router(module.router)
    return app


app = create_app()
