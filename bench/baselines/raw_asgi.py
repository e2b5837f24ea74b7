"""The framework-free floor, async: a bare ASGI callable under `uvicorn --workers N`."""

BODY = b'{"hello":"world"}'
START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())],
}


async def app(scope: dict, receive, send) -> None:
    if scope["type"] != "http":  # lifespan: nothing to set up
        return
    await send(START)
    await send({"type": "http.response.body", "body": BODY})
