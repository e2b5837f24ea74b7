"""Every setting the service reads, from the environment, in one place."""

from pathlib import Path

from stack_common.settings import ServiceSettings


class Settings(ServiceSettings):
    port: int = 8000
    database_url: str = "postgresql://api@localhost:5432/products"  # its own role
    metrics_port: int = 9100
    # The public prefix nginx strips (/api), so the OpenAPI docs link to URLs that work.
    root_path: str = "/api"
    # Bearer tokens that may write (POST, DELETE), one per line; unset: every write is refused.
    write_tokens_file: Path | None = None
