#!/usr/bin/env bash
# The role postgres_exporter logs in as: a member of pg_monitor (reads the statistics views and
# settings), nothing else — no table of the catalogue, no write. Its password comes from a secret
# file, read by psql itself (\set with backquotes), so it is on no command line.
set -euo pipefail
monitor_user=${MONITOR_DB_USER:-monitor}
password_file=${MONITOR_DB_PASSWORD_FILE:-/run/secrets/monitor_db_password}
if [ ! -r "$password_file" ]; then
  echo "04-monitor-role.sh: cannot read the monitor role's password from $password_file" >&2
  exit 1
fi

# psql variables (:"ident", :'literal') quote the values; nothing is pasted into SQL by the shell.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v monitor_user="$monitor_user" -v password_file="$password_file" -v db="$POSTGRES_DB" <<'SQL'
\set monitor_password `cat :'password_file'`
CREATE ROLE :"monitor_user" LOGIN PASSWORD :'monitor_password'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION CONNECTION LIMIT 3;
GRANT pg_monitor TO :"monitor_user";
GRANT CONNECT ON DATABASE :"db" TO :"monitor_user";
SQL
