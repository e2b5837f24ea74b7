"""Request ids and the audit trail, the same in every service.

nginx gives every request an `X-Request-ID` (keeping a well-formed one the client sent). A service
keeps it for the request's duration, so every log line written meanwhile carries it
(RequestIdFilter), returns it on the response, and writes one `audit` line per request that may
change data: who (the client address nginx saw, X-Real-IP), what (method, path), the outcome
(status) and the request id, which ties the line to nginx's access log.
"""

import logging
import re
from contextvars import ContextVar

# What a service echoes back and logs: bounded and plain, whatever arrives (nginx already refuses
# the rest; a service reached directly must not be made to log arbitrary text).
WELL_FORMED = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
audit_log = logging.getLogger("audit")


def request_id_from(header: str | None) -> str | None:
    return header if header is not None and WELL_FORMED.fullmatch(header) else None


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record logged while a request is being served."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = REQUEST_ID.get()
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        return True


def log_write(client: str | None, method: str, path: str, status: int, request_id: str | None) -> None:
    """The audit line of one request that may change data (WRITE_METHODS), whatever its outcome."""
    audit_log.info(
        "write",
        extra={"client": client, "method": method, "path": path, "status": status, "request_id": request_id},
    )
