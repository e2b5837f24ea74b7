"""gunicorn settings, read from the same Settings as the app (gunicorn -c python:legacy.gunicorn_conf)."""

from legacy.logs import LOGCONFIG
from legacy.settings import Settings

settings = Settings()

bind = f"{settings.host}:{settings.port}"
workers = settings.workers
worker_class = "aiohttp.GunicornUVLoopWebWorker"
# Longer than nginx's upstream keepalive, so nginx, not us, closes idle pooled connections.
keepalive = 75
# SIGTERM: stop accepting, let in-flight requests finish for up to this long.
graceful_timeout = 20
# No runtime control socket (gunicornc): nothing here uses it, and the root filesystem is read-only.
control_socket_disable = True
logconfig_dict = LOGCONFIG
