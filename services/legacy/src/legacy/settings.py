"""Every setting the service reads, from the environment, in one place."""

from stack_common.settings import ServiceSettings


class Settings(ServiceSettings):
    port: int = 8001
