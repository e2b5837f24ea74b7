"""Logs as one JSON line per event, for the server's and the app's loggers alike."""

from typing import Any


def logconfig(*access_loggers: str) -> dict[str, Any]:
    """A logging.config.dictConfig: JSON to stderr; the named per-request loggers quieted, since
    access logs are nginx's job and a line per request here would cost throughput twice."""
    quiet = {"level": "WARNING", "handlers": ["stderr"], "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            }
        },
        # Every line logged while a request is served carries its X-Request-ID (request_ids.py).
        "filters": {"request_id": {"()": "stack_common.request_ids.RequestIdFilter"}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_id"]}
        },
        "root": {"level": "INFO", "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
            **{name: quiet for name in access_loggers},
        },
    }
