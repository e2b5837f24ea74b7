"""Every setting the service reads, from the environment, in one place."""

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings


class Settings(BaseSettings):
    # Where gunicorn listens and how many worker processes it runs (one per CPU by default).
    host: str = "0.0.0.0"
    port: int = 8000
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1)

    # The app role's DSN, without its password; the password is read from a secret file.
    database_url: str = "postgresql://app@localhost:5432/products"
    database_password_file: Path | None = None
    # Per worker process. Keep workers × max across all services under PostgreSQL's max_connections.
    db_pool_min: int = 0
    db_pool_max: int = 10

    # The public prefix nginx strips (/api), so the OpenAPI docs link to URLs that work.
    root_path: str = "/api"

    def database_password(self) -> str | None:
        if self.database_password_file is None:
            return None
        return self.database_password_file.read_text().strip()
