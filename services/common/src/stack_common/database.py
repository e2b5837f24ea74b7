"""Which asyncpg errors mean "the database is not reachable right now" (answered with 503)."""

import asyncpg

DATABASE_UNAVAILABLE = (
    OSError,  # refused, reset, unreachable
    TimeoutError,  # connect, acquire or command timeout
    asyncpg.PostgresConnectionError,  # class 08: the connection failed
    asyncpg.OperatorInterventionError,  # class 57: admin shutdown, crash shutdown, cannot connect now
    asyncpg.InsufficientResourcesError,  # class 53: too many connections
    asyncpg.InterfaceError,  # the connection was closed under us
    # A connection the server drops in the middle of a query can surface as this (asyncpg#1069).
    asyncpg.InternalClientError,
)
