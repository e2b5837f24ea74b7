"""Every setting the service reads, from the environment, in one place."""

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings


class Settings(BaseSettings):
    # Where gunicorn listens and how many worker processes it runs (one per CPU by default).
    host: str = "0.0.0.0"
    port: int = 8000
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)

    # The app role's DSN, without its password; the password is read from a secret file.
    database_url: str = "postgresql://app@localhost:5432/products"
    database_password_file: Path | None = None
    # Connections per worker process: the service holds up to workers × db_pool_max. The totals of
    # all services must stay below the app role's limit of 80 (max_connections is 100); compose:
    # api 2 × 10 + legacy 2 × 10 + counter 2 × (2 + 1) = 46. See README "Pool sizes".
    db_pool_min: int = Field(default=0, ge=0)
    db_pool_max: int = Field(default=10, ge=1)

    # The public prefix nginx strips (/api), so the OpenAPI docs link to URLs that work.
    root_path: str = "/api"

    def database_password(self) -> str | None:
        if self.database_password_file is None:
            return None
        return self.database_password_file.read_text().strip()
