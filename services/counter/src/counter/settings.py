"""Every setting the service reads, from the environment, in one place."""

from pydantic import Field
from stack_common.settings import ServiceSettings


class Settings(ServiceSettings):
    port: int = 8002
    database_url: str = "postgresql://counter@localhost:5432/products"  # its own role
    metrics_port: int = 9102
    # Per worker process, plus one LISTEN connection each.
    db_pool_max: int = Field(default=2, ge=1)

    # Presence: each process refreshes its row this often; a row older than stale_after_seconds
    # (a process that died without cleaning up) no longer counts.
    heartbeat_seconds: float = 1.0
    stale_after_seconds: float = 5.0
    # Pings keep idle sockets open through proxies (nginx's read timeout on /counter is 1 h, many
    # others' are 60 s) and find peers that vanished without a close frame: one that has not
    # answered a ping within another interval is dropped.
    ping_interval_seconds: float = 20.0
    # Bounds on what clients may send: a larger frame closes with 1009, a flood with 1008.
    max_message_bytes: int = 1024
    max_messages_per_second: int = 20

    # Browsers send the page's Origin with a websocket handshake; a cross-site page must not open
    # sockets in its visitors' names (cross-site websocket hijacking). Allowed: an Origin whose host
    # is the host the request was sent to (the page this site serves, under whatever name it is
    # reached), the origins listed here (comma-separated, e.g. "https://shop.example"), and clients
    # that send no Origin (not browsers). Any other is refused with 403 before the upgrade.
    allowed_origins: str = ""

    def allowed_origin_set(self) -> frozenset[str]:
        listed = (origin.strip().lower().rstrip("/") for origin in self.allowed_origins.split(","))
        return frozenset(origin for origin in listed if origin)
