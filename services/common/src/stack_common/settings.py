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

    def database_password(self) -> str | None:
        if self.database_password_file is None:
            return None
        return self.database_password_file.read_text().strip()
