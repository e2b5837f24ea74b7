"""The gunicorn worker: uvicorn on uvloop and httptools, told the public prefix that nginx strips."""

from uvicorn_worker import UvicornWorker

from api.settings import Settings


class Worker(UvicornWorker):
    # root_path makes the OpenAPI docs and the links we return point at /api/…, where clients see us.
    CONFIG_KWARGS = {"loop": "uvloop", "http": "httptools", "root_path": Settings().root_path}
