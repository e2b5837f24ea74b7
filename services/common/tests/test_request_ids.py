"""Every JSON log line written while a request is served carries its request id (logconfig's filter)."""

import io
import json
import logging
import logging.config

from stack_common.logs import logconfig
from stack_common.request_ids import REQUEST_ID, request_id_from


def test_log_lines_carry_the_current_request_id() -> None:
    config = logconfig()
    logging.config.dictConfig(config)
    stream = io.StringIO()
    handler = logging.getLogger().handlers[0]
    handler.setStream(stream)  # type: ignore[attr-defined]
    log = logging.getLogger("some.module")
    try:
        token = REQUEST_ID.set("req-123")
        log.warning("inside a request")
        REQUEST_ID.reset(token)
        log.warning("outside any request")
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["request_id"] == "req-123" and inside["message"] == "inside a request"
    assert "request_id" not in outside


def test_only_plain_bounded_ids_are_kept() -> None:
    assert request_id_from("0f1e2d3c4b5a69788796a5b4c3d2e1f0") == "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    assert request_id_from("test-abc_1.2:3@x") == "test-abc_1.2:3@x"
    for bad in (None, "", "a b", "x" * 129, "a\nb", "a\"b", "ä"):
        assert request_id_from(bad) is None
