#!/usr/bin/env bash
# One login role per service, each allowed only what that service does:
#   api      reads the catalogue, creates and deletes products
#   legacy   reads brands and products
#   counter  keeps its presence rows (and LISTEN/NOTIFY, which needs no grant)
# No superuser, no DDL, no temporary tables, no other database. Each role's password comes from its
# own secret file, read by psql itself (`cat` in backquotes): no password is ever on a command line,
# where any local user could read it in /proc/<pid>/cmdline.
set -euo pipefail

for file in "$API_DB_PASSWORD_FILE" "$LEGACY_DB_PASSWORD_FILE" "$COUNTER_DB_PASSWORD_FILE"; do
  if [ ! -r "$file" ]; then
    echo "02-roles.sh: cannot read a role's password from $file" >&2
    exit 1
  fi
done

# Connection limits from the pools: every worker process of a service holds up to DB_POOL_MAX
# connections (the counter one more, for LISTEN), and the counter may run COUNTER_MAX_REPLICAS
# replicas (docker compose up --scale counter=N). The headroom covers a connection the server has
# not yet noticed is gone while the pool opens its replacement, and a psql session as the role.
# They are fixed when the volume is initialised: raising WORKERS later needs ALTER ROLE … CONNECTION LIMIT.
headroom=5
api_limit=$(( WORKERS * API_DB_POOL_MAX + headroom ))
legacy_limit=$(( WORKERS * LEGACY_DB_POOL_MAX + headroom ))
counter_limit=$(( COUNTER_MAX_REPLICAS * WORKERS * (COUNTER_DB_POOL_MAX + 1) + headroom ))

# psql variables (:"ident", :'literal') quote the values; nothing is pasted into SQL by the shell.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v db="$POSTGRES_DB" \
  -v api_password_file="$API_DB_PASSWORD_FILE" -v api_limit="$api_limit" \
  -v legacy_password_file="$LEGACY_DB_PASSWORD_FILE" -v legacy_limit="$legacy_limit" \
  -v counter_password_file="$COUNTER_DB_PASSWORD_FILE" -v counter_limit="$counter_limit" <<'SQL'
\set api_password `cat :'api_password_file'`
\set legacy_password `cat :'legacy_password_file'`
\set counter_password `cat :'counter_password_file'`

CREATE ROLE api LOGIN PASSWORD :'api_password'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOINHERIT CONNECTION LIMIT :api_limit;
CREATE ROLE legacy LOGIN PASSWORD :'legacy_password'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOINHERIT CONNECTION LIMIT :legacy_limit;
CREATE ROLE counter LOGIN PASSWORD :'counter_password'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOINHERIT CONNECTION LIMIT :counter_limit;

-- A runaway query or a transaction left open is ended by the server, whatever the client does.
-- 5 s is the services' own query timeout; nothing they run takes a fraction of it.
ALTER ROLE api SET statement_timeout = '5s';
ALTER ROLE legacy SET statement_timeout = '5s';
ALTER ROLE counter SET statement_timeout = '5s';
ALTER ROLE api SET idle_in_transaction_session_timeout = '10s';
ALTER ROLE legacy SET idle_in_transaction_session_timeout = '10s';
ALTER ROLE counter SET idle_in_transaction_session_timeout = '10s';

-- Databases: only ours, and no temporary tables anywhere. PUBLIC may by default connect to every
-- database and create temporary tables in it.
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
REVOKE CONNECT, TEMPORARY ON DATABASE postgres FROM PUBLIC;
REVOKE CONNECT, TEMPORARY ON DATABASE template1 FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO api, legacy, counter;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO api, legacy, counter;

-- api: the catalogue, products created and deleted (deleting cascades to sku as the owner).
GRANT SELECT ON brand, product, product_color, product_size, sku TO api;
GRANT INSERT, DELETE ON product TO api;
GRANT USAGE ON SEQUENCE product_product_id_seq TO api;

-- legacy: the two tables it serves, read only.
GRANT SELECT ON brand, product TO legacy;

-- counter: its presence table only.
GRANT SELECT, INSERT, UPDATE, DELETE ON counter_presence TO counter;
SQL
