#!/usr/bin/env sh
# Creates the compose secrets once: random passwords in .secrets/ (git-ignored), never in the repo.
# The folder is private to you; the files are world-readable so the containers' non-root users
# can read them where compose bind-mounts them at /run/secrets/.
set -eu
dir=${1:-.secrets}
mkdir -p "$dir" && chmod 700 "$dir"
for name in postgres_password app_db_password; do
  if [ ! -s "$dir/$name" ]; then
    python3 -c 'import secrets; print(secrets.token_urlsafe(24), end="")' > "$dir/$name"
    chmod 644 "$dir/$name"
    echo "created $dir/$name"
  fi
done
