"""The application factory: gunicorn serves `legacy.app:create_app()` (see gunicorn_conf.py)."""

from aiohttp import web

from legacy.db import pool_context
from legacy.errors import json_errors
from legacy.routes import routes
from legacy.settings import Settings


def create_app(settings: Settings | None = None) -> web.Application:
    settings = settings or Settings()
    app = web.Application(middlewares=[json_errors], client_max_size=64 * 1024)
    app.cleanup_ctx.append(pool_context(settings))
    app.add_routes(routes)
    return app
