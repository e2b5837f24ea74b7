"""Logs as one JSON line per event (__main__.py installs it)."""

from stack_common.logs import logconfig

LOGCONFIG = logconfig("websockets.server")
