"""The settings every service reads; each service's Settings adds its own and sets its port."""

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings


class ServiceSettings(BaseSettings):
    # Where the service listens and how many worker processes it runs (one per CPU by default).
    host: str = "0.0.0.0"
    port: int
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)

    # The service's own role's DSN (postgres/02-roles.sh), without its password; the password is
    # read from a secret file.
    database_url: str
    database_password_file: Path | None = None
    # Connections per worker process: a service holds up to workers × db_pool_max, and its role may
    # open that many plus a little headroom (CONNECTION LIMIT, sized from the same numbers at init).
    # All services together must stay below max_connections (100); compose: api 2 × 10 + legacy
    # 2 × 10 + counter 2 × (2 + 1 LISTEN) = 46.
    db_pool_min: int = Field(default=0, ge=0)
    db_pool_max: int = Field(default=10, ge=1)

    # Prometheus metrics (stack_common.metrics) on a port of their own, which nginx never proxies;
    # 0 turns them off. Worker processes share their numbers through files in this directory
    # (prometheus_client reads the same variable); it is emptied at every start.
    metrics_port: int = Field(ge=0, le=65535)
    prometheus_multiproc_dir: Path | None = None

    # On SIGTERM, keep serving this long before the graceful stop (stack_common.drain): on a swarm
    # nginx may still send new requests for a few seconds after Docker has dropped the task.
    drain_seconds: float = Field(default=0, ge=0)

    @property
    def metrics_on(self) -> bool:
        return self.metrics_port != 0

    def database_password(self) -> str | None:
        if self.database_password_file is None:
            return None
        return self.database_password_file.read_text().strip()
