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
    # Connections to PostgreSQL. Every worker process has its own pool, so this service can hold
    # workers × pool max at once. By default the pool max is db_connection_budget split across the
    # workers, so the service's total stays the same however many CPUs set the worker count; set
    # DB_POOL_MAX to fix it per worker instead. The budgets of all services together must stay
    # below PostgreSQL's max_connections (see README "Pool sizes").
    db_connection_budget: int = Field(default=30, ge=1)
    db_pool_max: int | None = Field(default=None, ge=1)
    db_pool_min: int = Field(default=0, ge=0)

    # The public prefix nginx strips (/api), so the OpenAPI docs link to URLs that work.
    root_path: str = "/api"

    @property
    def pool_max_size(self) -> int:
        if self.db_pool_max is not None:
            return self.db_pool_max
        return max(1, self.db_connection_budget // self.workers)

    def database_password(self) -> str | None:
        if self.database_password_file is None:
            return None
        return self.database_password_file.read_text().strip()
