"""Every setting the service reads, from the environment, in one place."""

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings


class Settings(BaseSettings):
    # Where the server listens and how many worker processes share the port (one per CPU by default).
    host: str = "0.0.0.0"
    port: int = 8002
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1)

    # The app role's DSN, without its password; the password is read from a secret file.
    database_url: str = "postgresql://app@localhost:5432/products"
    database_password_file: Path | None = None
    # Per worker process, plus one LISTEN connection each.
    db_pool_max: int = 2

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

    def database_password(self) -> str | None:
        if self.database_password_file is None:
            return None
        return self.database_password_file.read_text().strip()
