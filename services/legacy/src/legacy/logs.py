"""Logs as one JSON line per event, for gunicorn's and the app's loggers alike."""

LOGCONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    },
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"level": "INFO", "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        # Access logs are nginx's job; per-request lines here would cost throughput twice.
        "gunicorn.access": {"level": "WARNING", "handlers": ["stderr"], "propagate": False},
        "aiohttp.access": {"level": "WARNING"},
    },
}
