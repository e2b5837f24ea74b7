"""The framework-free floor, sync: a bare WSGI callable under `gunicorn -w N`."""

BODY = b'{"hello":"world"}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def app(environ: dict, start_response) -> list[bytes]:
    start_response("200 OK", HEADERS)
    return [BODY]
