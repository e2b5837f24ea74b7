#!/usr/bin/env bash
# The role the services log in as: it reads the catalogue, creates and deletes products, and keeps
# the counter's presence rows. No superuser, no DDL. Its password comes from a secret file.
set -euo pipefail
app_user=${APP_DB_USER:-app}
password_file=${APP_DB_PASSWORD_FILE:-/run/secrets/app_db_password}
if [ ! -r "$password_file" ]; then
  echo "02-app-role.sh: cannot read the app role's password from $password_file" >&2
  exit 1
fi

# psql variables (:"ident", :'literal') quote the values; nothing is pasted into SQL by the shell.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v app_user="$app_user" -v app_password="$(cat "$password_file")" -v db="$POSTGRES_DB" <<'SQL'
CREATE ROLE :"app_user" LOGIN PASSWORD :'app_password'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION CONNECTION LIMIT 80;
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"app_user";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app_user";
GRANT SELECT ON brand, product, product_color, product_size, sku TO :"app_user";
GRANT INSERT, DELETE ON product TO :"app_user";
GRANT USAGE ON SEQUENCE product_product_id_seq TO :"app_user";
GRANT SELECT, INSERT, UPDATE, DELETE ON counter_presence TO :"app_user";
SQL
