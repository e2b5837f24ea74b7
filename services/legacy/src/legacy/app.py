"""The application factory: gunicorn serves `legacy.app:create_app()` (see gunicorn_conf.py)."""

from collections.abc import Callable

from aiohttp import web
from stack_common.fresh_reads import FreshKeyedReads, FreshReads
from stack_common.metrics import HttpMetrics, batch_size_observer

from legacy.db import POOL, pool_context
from legacy.errors import json_errors
from legacy.request_records import request_records, write_metrics
from legacy.routes import BRANDS_JSON, PRODUCT_BY_ID, read_brands_json, read_products_by_id, routes
from legacy.settings import Settings


def create_app(settings: Settings | None = None) -> web.Application:
    settings = settings or Settings()
    # The records outermost: they see every answer as the client gets it.
    records = request_records(HttpMetrics() if settings.metrics_on else None)
    app = web.Application(middlewares=[records, json_errors], client_max_size=64 * 1024)
    app.cleanup_ctx.append(pool_context(settings))
    if settings.metrics_on:
        app.on_cleanup.append(write_metrics)  # after the pool's context has closed it

    def observed(read: str) -> Callable[[int], None] | None:
        return batch_size_observer(read) if settings.metrics_on else None

    # Concurrent reads share one query per round trip (stack_common.fresh_reads).
    app[BRANDS_JSON] = FreshReads(lambda: read_brands_json(app[POOL]), observed("brands"))
    app[PRODUCT_BY_ID] = FreshKeyedReads(
        lambda ids: read_products_by_id(app[POOL], ids), observed("product_by_id")
    )
    app.add_routes(routes)
    return app
