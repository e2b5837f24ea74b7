"""Log in as a service's database role and try what that role must not do; print what happened.

Standalone (asyncpg and the standard library only), so the very same file runs natively with a
service's environment and inside a service's container (`docker compose exec -T api python -`):
it reads DATABASE_URL, DATABASE_PASSWORD_FILE, WORKERS and DB_POOL_MAX as the service does, and
prints one JSON object: each attempt's name → "ok" or the SQLSTATE it failed with.
Writes that might succeed run in a transaction that is rolled back: the probe changes nothing.
"""

import asyncio
import json
import os
import sys
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ROLE = urlsplit(os.environ["DATABASE_URL"]).username
with open(os.environ["DATABASE_PASSWORD_FILE"]) as secret:
    PASSWORD = secret.read().strip()

# What each role may do (proving the probe reaches the database) and what it must not.
COMMON = {
    "create table": "CREATE TABLE intruder (id int)",
    "create temp table": "CREATE TEMP TABLE intruder (id int)",
    "drop table": "DROP TABLE brand",
    "alter table": "ALTER TABLE product ADD COLUMN price int",
    "create role": "CREATE ROLE intruder",
    "create schema": "CREATE SCHEMA intruder",
    "create function": "CREATE FUNCTION intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "long pg_sleep": "SELECT pg_sleep(30)",
    "read a server file": "SELECT pg_read_file('/etc/passwd')",
}
BY_ROLE = {
    "api": {
        "read the catalogue": (
            "SELECT count(*) FROM brand JOIN product USING (brand_id) JOIN sku USING (product_id)"
            " CROSS JOIN product_size CROSS JOIN product_color"
        ),
        "create a product": "INSERT INTO product (product_name, brand_id) VALUES ('probe', 1)",
        "delete a product": "DELETE FROM product WHERE product_id = 1",
        "update a product": "UPDATE product SET product_name = 'x' WHERE product_id = 1",
        "write brands": "INSERT INTO brand (brand_name) VALUES ('intruder')",
        "delete brands": "DELETE FROM brand WHERE brand_id = 1",
        "write skus": "DELETE FROM sku WHERE product_id = 1",
        "read presence": "SELECT count(*) FROM counter_presence",
        "write presence": "INSERT INTO counter_presence (instance_id, connections) VALUES ('intruder', 1)",
    },
    "legacy": {
        "read brands and products": "SELECT count(*) FROM brand JOIN product USING (brand_id)",
        "create a product": "INSERT INTO product (product_name, brand_id) VALUES ('probe', 1)",
        "delete a product": "DELETE FROM product WHERE product_id = 1",
        "update a product": "UPDATE product SET product_name = 'x' WHERE product_id = 1",
        "write brands": "INSERT INTO brand (brand_name) VALUES ('intruder')",
        "read skus": "SELECT count(*) FROM sku",
        "read presence": "SELECT count(*) FROM counter_presence",
        "write presence": "INSERT INTO counter_presence (instance_id, connections) VALUES ('intruder', 1)",
    },
    "counter": {
        "keep presence": (
            "INSERT INTO counter_presence (instance_id, connections) VALUES ('probe', 0)"
            " ON CONFLICT (instance_id) DO UPDATE SET connections = 0"
        ),
        "purge presence": "DELETE FROM counter_presence WHERE instance_id = 'probe'",
        "notify": "SELECT pg_notify('counter_presence', 'probe 0')",
        "read brands": "SELECT count(*) FROM brand",
        "read products": "SELECT count(*) FROM product",
        "create a product": "INSERT INTO product (product_name, brand_id) VALUES ('probe', 1)",
        "delete a product": "DELETE FROM product WHERE product_id = 1",
    },
}
OTHER_DATABASES = ("postgres", "template1")
IDLE_IN_TRANSACTION_WAIT = 11  # seconds: past the role's idle_in_transaction_session_timeout


def dsn(database: str | None = None) -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{database}")) if database else os.environ["DATABASE_URL"]


def outcome(exc: BaseException | None) -> str:
    if exc is None:
        return "ok"
    return getattr(exc, "sqlstate", None) or type(exc).__name__


async def probe() -> dict:
    results: dict[str, object] = {"role": ROLE}
    connection = await asyncpg.connect(dsn(), password=PASSWORD, timeout=10)
    try:
        for name, statement in {**COMMON, **BY_ROLE[ROLE]}.items():
            transaction = connection.transaction()
            await transaction.start()
            try:
                await connection.execute(statement, timeout=20)  # the server's timeout, not ours, ends it
                results[name] = "ok"
            except (asyncpg.PostgresError, TimeoutError) as exc:
                results[name] = outcome(exc)
            finally:
                await transaction.rollback()
        results["statement_timeout"] = await connection.fetchval("SHOW statement_timeout")
        results["idle_in_transaction_session_timeout"] = await connection.fetchval(
            "SHOW idle_in_transaction_session_timeout"
        )
        results["connection limit"] = await connection.fetchval(
            "SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user"
        )
        results["pool"] = {name: os.environ.get(name) for name in ("WORKERS", "DB_POOL_MAX")}
        # Left open in a transaction: the server ends the session.
        await connection.execute("BEGIN")
        await asyncio.sleep(IDLE_IN_TRANSACTION_WAIT)
        if connection.is_closed():  # the server's FATAL 25P03 arrived and closed it
            results["idle in transaction"] = "closed by the server"
        else:
            try:
                await connection.fetchval("SELECT 1", timeout=5)
                results["idle in transaction"] = "ok"
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                results["idle in transaction"] = outcome(exc)
    finally:
        connection.terminate()
    for database in OTHER_DATABASES:
        try:
            other = await asyncpg.connect(dsn(database), password=PASSWORD, timeout=10)
        except asyncpg.PostgresError as exc:
            results[f"connect to {database}"] = outcome(exc)
        else:
            results[f"connect to {database}"] = "ok"
            await other.close()
    return results


if __name__ == "__main__":
    json.dump(asyncio.run(probe()), sys.stdout)
