#!/usr/bin/env sh
# A self-signed pair for trying HTTPS (make certs): a private CA and a server certificate for
# localhost signed by it, in .certs/ (git-ignored). Trust the CA, not the server certificate:
#   curl --cacert .certs/ca.crt https://localhost:8443/
# For a real site use a certificate from a CA browsers trust (README "HTTPS").
set -eu
dir=${1:-.certs}
if [ -s "$dir/server.crt" ] && [ -s "$dir/server.key" ]; then
  exit 0
fi
mkdir -p "$dir" && chmod 700 "$dir"
openssl req -x509 -new -nodes -newkey rsa:2048 -days 825 -subj "/CN=async-web-stack test CA" \
  -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
openssl req -new -nodes -newkey rsa:2048 -subj "/CN=localhost" \
  -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n' > "$dir/server.ext"
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
  -days 825 -extfile "$dir/server.ext" -out "$dir/server.crt" 2>/dev/null
rm -f "$dir/server.csr" "$dir/server.ext" "$dir/ca.srl"
# nginx's master reads the key as root natively; in compose the image's non-root user reads it
# where compose.tls.yaml bind-mounts the folder.
chmod 644 "$dir/server.key" "$dir/server.crt" "$dir/ca.crt"
echo "created $dir/ca.crt, $dir/server.crt and $dir/server.key (for localhost)"
