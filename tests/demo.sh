#!/usr/bin/env bash
# Runs the appliance on this PC: a test MSSanté operator (Postfix + Dovecot
# with a test IGC-Santé-like PKI) and Facteur in front of it, on loopback.
# Prints one line
#   facteur ready: config=PATH smtp=HOST:PORT user=USER password=PASS demo_to=ADDRESS
# then runs until Ctrl-C or SIGTERM, and stops everything it started.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
work=${FACTEUR_DEMO_DIR:-/tmp/facteur-demo}
smtp_port=${FACTEUR_DEMO_SMTP_PORT:-2525}
export OPERATOR_SMTP_PORT=${OPERATOR_SMTP_PORT:-10587}
export OPERATOR_IMAP_PORT=${OPERATOR_IMAP_PORT:-10143}
export OPERATOR_LMTP_PORT=${OPERATOR_LMTP_PORT:-10024}
export OPERATOR_SMTPS_PORT=${OPERATOR_SMTPS_PORT:-10465}

bash "$repo/tests/setup/install-deps.sh" >&2
(cd "$repo" && cargo build --release --quiet --bin facteur) >&2
facteur="$repo/target/release/facteur"

mkdir -p "$work"
operator_dir="$work/operator"
facteur_pid=""
cleanup() {
    trap - INT TERM EXIT
    if [ -n "$facteur_pid" ] && kill -0 "$facteur_pid" 2>/dev/null; then
        kill -TERM "$facteur_pid" 2>/dev/null || true
        wait "$facteur_pid" 2>/dev/null || true
    fi
    bash "$repo/tests/operator/operator.sh" stop "$operator_dir" >&2 || true
}
trap cleanup INT TERM EXIT

bash "$repo/tests/operator/operator.sh" start "$operator_dir" >&2
# shellcheck disable=SC1091
. "$operator_dir/operator.env"

user=secretariat
password_file="$work/password"
if [ ! -s "$password_file" ]; then
    (umask 077; head -c 12 /dev/urandom | base64 | tr -d '/+=' > "$password_file")
fi
password=$(cat "$password_file")
hash=$(printf '%s\n' "$password" | "$facteur" hash-password)

config="$work/facteur.toml"
cat > "$config" <<TOML
data_dir = "$work/data"

[log]
level = "info"

[smtp]
listen = ["127.0.0.1:$smtp_port"]
hostname = "facteur.local"

[[accounts]]
user = "$user"
password_hash = "$hash"

[mssante]
mailbox = "$CLIENT_MAILBOX"
nil = "FACTEUR-DEMO"
whitelist = "$repo/tests/fixtures/listeblanche-test.xml"

[upstream]
host = "$OPERATOR_SMTP_HOST"
port = $OPERATOR_SMTP_PORT
server_name = "$OPERATOR_SERVER_NAME"
trust_anchors = "$OPERATOR_CA"

[credential]
kind = "software"
pkcs12 = "$CLIENT_P12"
pkcs12_password_file = "$CLIENT_P12_PASS_FILE"

[queue]
retry_initial = 5
retry_max = 60
TOML

"$facteur" --config "$config" run &
facteur_pid=$!
for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$smtp_port") 2>/dev/null; then break; fi
    if ! kill -0 "$facteur_pid" 2>/dev/null; then echo "facteur failed to start" >&2; exit 1; fi
    sleep 0.05
done

echo "facteur ready: config=$config smtp=127.0.0.1:$smtp_port user=$user password=$password demo_to=$DEMO_TO"
wait "$facteur_pid"
