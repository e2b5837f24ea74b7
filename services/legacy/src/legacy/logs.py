"""Logs as one JSON line per event (gunicorn_conf.py installs it)."""

from stack_common.logs import logconfig

LOGCONFIG = logconfig("gunicorn.access", "aiohttp.access")
