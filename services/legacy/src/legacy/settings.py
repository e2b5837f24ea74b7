"""Every setting the service reads, from the environment, in one place."""

from stack_common.settings import ServiceSettings


class Settings(ServiceSettings):
    port: int = 8001
    database_url: str = "postgresql://legacy@localhost:5432/products"  # its own role
    metrics_port: int = 9101
