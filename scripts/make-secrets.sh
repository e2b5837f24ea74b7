#!/usr/bin/env sh
# Creates the compose secrets once: random values in .secrets/ (git-ignored), never in the repo.
# One password per database role (postgres/02-roles.sh, 04-monitor-role.sh) and the api's write tokens (one per line:
# add a new line, move clients over, delete the old line — the api re-reads the file on change).
# The folder is private to you; the files are world-readable so the containers' non-root users
# can read them where compose bind-mounts them at /run/secrets/.
set -eu
dir=${1:-.secrets}
mkdir -p "$dir" && chmod 700 "$dir"
for name in postgres_password api_db_password legacy_db_password counter_db_password monitor_db_password api_write_tokens; do
  if [ ! -s "$dir/$name" ]; then
    python3 -c 'import secrets; print(secrets.token_urlsafe(32))' > "$dir/$name"
    chmod 644 "$dir/$name"
    echo "created $dir/$name"
  fi
done
