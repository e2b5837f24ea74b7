"""The application factory: gunicorn serves `legacy.app:create_app()` (see gunicorn_conf.py)."""

from aiohttp import web
from stack_common.fresh_reads import FreshReads

from legacy.db import POOL, pool_context
from legacy.errors import json_errors
from legacy.request_ids import request_ids
from legacy.routes import BRANDS_JSON, read_brands_json, routes
from legacy.settings import Settings


def create_app(settings: Settings | None = None) -> web.Application:
    settings = settings or Settings()
    app = web.Application(middlewares=[request_ids, json_errors], client_max_size=64 * 1024)
    app.cleanup_ctx.append(pool_context(settings))
    app[BRANDS_JSON] = FreshReads(lambda: read_brands_json(app[POOL]))
    app.add_routes(routes)
    return app
