#!/usr/bin/env bash
# Runs the appliance on this PC: a test MSSanté operator (Postfix + Dovecot
# with a test IGC-Santé-like PKI), a PC/SC stack (pcscd with vsmartcard's
# virtual reader) holding a simulated CPS card (test PIN 1234), and Facteur
# in front of them, on loopback. The card is unlocked with `facteur card
# unlock`, as the practitioner would.
# Prints one line
#   facteur ready: config=PATH smtp=HOST:PORT user=USER password=PASS demo_to=ADDRESS imap=HOST:PORT import_dir=PATH outbox_dir=PATH web=URL [setup_code=CODE]
# (setup_code while the web admin is not yet claimed).
# then runs until Ctrl-C or SIGTERM, and stops everything it started.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
work=${FACTEUR_DEMO_DIR:-/tmp/facteur-demo}
smtp_port=${FACTEUR_DEMO_SMTP_PORT:-2525}
imap_port=${FACTEUR_DEMO_IMAP_PORT:-1143}
export OPERATOR_SMTP_PORT=${OPERATOR_SMTP_PORT:-10587}
export OPERATOR_IMAP_PORT=${OPERATOR_IMAP_PORT:-10143}
export OPERATOR_LMTP_PORT=${OPERATOR_LMTP_PORT:-10024}
export OPERATOR_SMTPS_PORT=${OPERATOR_SMTPS_PORT:-10465}
vpcd_port=${FACTEUR_DEMO_VPCD_PORT:-35963}
card_pin=1234

bash "$repo/tests/setup/install-deps.sh" >&2
(cd "$repo" && cargo build --release --quiet --bin facteur --bin facteur-card-sim --bin facteur-web) >&2
facteur="$repo/target/release/facteur"
card_sim="$repo/target/release/facteur-card-sim"
facteur_web="$repo/target/release/facteur-web"
web_port=${FACTEUR_DEMO_WEB_PORT:-8443}

mkdir -p "$work"
operator_dir="$work/operator"
facteur_pid=""
web_pid=""
pcscd_pid=""
card_pid=""
stop_pid() {
    if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
        kill -TERM "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
    fi
}
cleanup() {
    trap - INT TERM EXIT
    stop_pid "$web_pid"
    stop_pid "$facteur_pid"
    stop_pid "$card_pid"
    stop_pid "$pcscd_pid"
    bash "$repo/tests/operator/operator.sh" stop "$operator_dir" >&2 || true
}
trap cleanup INT TERM EXIT

OPERATOR_ECHO_TO=cabinet.dupont@test.mssante.fr bash "$repo/tests/operator/operator.sh" start "$operator_dir" >&2
# shellcheck disable=SC1091
. "$operator_dir/operator.env"

# pcsc-lite serves one socket per machine: this pcscd replaces any other.
pkill -x pcscd 2>/dev/null && sleep 1 || true
rm -f /run/pcscd/pcscd.comm /run/pcscd/pcscd.pid
cat > "$work/reader.conf" <<CONF
FRIENDLYNAME "Facteur Demo Reader"
DEVICENAME   /dev/null:$vpcd_port
LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so
CHANNELID    $vpcd_port
CONF
pcscd --foreground --config "$work/reader.conf" > "$work/pcscd.log" 2>&1 &
pcscd_pid=$!
for _ in $(seq 1 100); do
    [ -S /run/pcscd/pcscd.comm ] && (exec 3<>"/dev/tcp/127.0.0.1/$vpcd_port") 2>/dev/null && break
    sleep 0.1
done
"$card_sim" --vpcd "127.0.0.1:$vpcd_port" --profile cps3 --certificate "$PRACTITIONER_CERT_DER" \
    --key "$PRACTITIONER_KEY" --pin "$card_pin" --control "$work/card.sock" \
    --state "$work/card-state.json" > "$work/card.log" 2>&1 &
card_pid=$!

user=secretariat
password_file="$work/password"
if [ ! -s "$password_file" ]; then
    (umask 077; head -c 12 /dev/urandom | base64 | tr -d '/+=' > "$password_file")
fi
password=$(cat "$password_file")
hash=$(printf '%s\n' "$password" | "$facteur" hash-password)

# The operators the web admin's set-up wizard offers: the test operator.
cat > "$work/operators.toml" <<TOML
[[operator]]
id = "test"
name = "Opérateur de test (démonstration)"
smtp_host = "$OPERATOR_SMTP_HOST"
smtp_port = $OPERATOR_SMTP_PORT
imap_host = "$OPERATOR_IMAP_HOST"
imap_port = $OPERATOR_IMAP_PORT
server_name = "$OPERATOR_SERVER_NAME"
domains = ["test.mssante.fr"]

[[operator]]
id = "manual"
name = "Autre opérateur (réglages saisis à la main)"
manual = true
TOML

config="$work/facteur.toml"
cat > "$config" <<TOML
data_dir = "$work/data"
operators = "$work/operators.toml"

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
imap_host = "$OPERATOR_IMAP_HOST"
imap_port = $OPERATOR_IMAP_PORT

[credential]
kind = "card"
intermediates = "$CARD_INTERMEDIATES"

[queue]
retry_initial = 5
retry_max = 60

# The LED, button and display, simulated: \`facteur board\` shows them,
# \`facteur board press\` presses the button.
[board]
description = "simulated"

[inbound]
import_dir = "$work/import"

[imap]
listen = ["127.0.0.1:$imap_port"]

# Drop a PDF (with <name>.json, or named <address>__<title>.pdf, or in a
# correspondent's folder) here to send it as an MSSanté document.
[outbox]
folders = ["$work/outbox"]

[outbox.author]
institution = "Cabinet médical de démonstration"

[paper]
to_print_dir = "$work/to-print"
practice_name = "Cabinet médical de démonstration"
practitioner = "Dr Jeanne DUPONT"
specialty = "Médecine générale"
address_lines = ["12 rue des Lilas"]
postcode = "79000"
town = "Niort"
phone = "05 49 00 00 00"
TOML

"$facteur" --config "$config" run &
facteur_pid=$!
for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$smtp_port") 2>/dev/null; then break; fi
    if ! kill -0 "$facteur_pid" 2>/dev/null; then echo "facteur failed to start" >&2; exit 1; fi
    sleep 0.05
done

# The practitioner unlocks the card (here with the simulated card's PIN).
for _ in $(seq 1 100); do
    "$facteur" --config "$config" card status --json 2>/dev/null | grep -q '"state": "locked"' && break
    "$facteur" --config "$config" card status --json 2>/dev/null | grep -q '"state": "unlocked"' && break
    sleep 0.1
done
echo "$card_pin" | "$facteur" --config "$config" card unlock >&2
"$facteur" --config "$config" card status >&2

# The web admin: a separate process that reaches the daemon only through
# its control socket. Claimed once with the setup code it prints.
cat > "$work/web.toml" <<TOML
listen = "127.0.0.1:$web_port"
control_socket = "$work/data/control.sock"
state_dir = "$work/web"
hostname = "facteur.local"
TOML
"$facteur_web" --config "$work/web.toml" > "$work/web.out" 2> "$work/web.log" &
web_pid=$!
web_ready=""
for _ in $(seq 1 200); do
    web_ready=$(grep -m1 '^facteur-web ready:' "$work/web.out" 2>/dev/null || true)
    [ -n "$web_ready" ] && break
    if ! kill -0 "$web_pid" 2>/dev/null; then echo "facteur-web failed to start" >&2; cat "$work/web.log" >&2; exit 1; fi
    sleep 0.05
done
web_url=$(sed -n 's/.* url=\([^ ]*\).*/\1/p' <<<"$web_ready")
setup_code=$(sed -n 's/.* setup_code=\([^ ]*\).*/\1/p' <<<"$web_ready")

echo "facteur ready: config=$config smtp=127.0.0.1:$smtp_port user=$user password=$password demo_to=$DEMO_TO imap=127.0.0.1:$imap_port import_dir=$work/import outbox_dir=$work/outbox web=$web_url${setup_code:+ setup_code=$setup_code}"
wait "$facteur_pid"
