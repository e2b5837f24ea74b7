"""gunicorn settings, read from the same Settings as the app (gunicorn -c python:legacy.gunicorn_conf)."""

from stack_common.drain import drain_gunicorn_on_sigterm
from stack_common.metrics_server import GunicornHooks

from legacy.logs import LOGCONFIG
from legacy.settings import Settings

settings = Settings()

bind = f"{settings.host}:{settings.port}"
workers = settings.workers
worker_class = "aiohttp.GunicornUVLoopWebWorker"
# Longer than nginx's upstream keepalive, so nginx, not us, closes idle pooled connections.
keepalive = 75
# SIGTERM: keep serving DRAIN_SECONDS (0 by default; the swarm's stack sets it), then stop
# accepting and let in-flight requests finish for up to this long.
graceful_timeout = 20
# No runtime control socket (gunicornc): nothing here uses it, and the root filesystem is read-only.
control_socket_disable = True
logconfig_dict = LOGCONFIG

# Metrics (METRICS_PORT, 0 = off): every worker's merged, served by the master (stack_common.metrics_server).
metrics_hooks = GunicornHooks(settings.metrics_on, settings.host, settings.metrics_port)


def on_starting(arbiter: object) -> None:
    metrics_hooks.on_starting(arbiter)
    drain_gunicorn_on_sigterm(arbiter, settings.drain_seconds)


when_ready = metrics_hooks.when_ready
post_fork = metrics_hooks.post_fork
child_exit = metrics_hooks.child_exit
