"""JSON bodies, encoded by orjson: the hot path of every route, a few times faster than json.dumps."""

from typing import Any

import orjson
from aiohttp import web


def json_response(data: Any, status: int = 200) -> web.Response:
    # orjson emits UTF-8 bytes directly; "application/json" is UTF-8 by definition (RFC 8259),
    # so no charset parameter, as the api service answers.
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")
