#!/usr/bin/env bash
# Benchmark (not a test): the same N messages relayed by Facteur and by a
# stock Postfix configured for the same upstream, in one run, alternating
# (facteur, postfix, facteur, postfix, ...).
#
#   smtp-source ──SMTP, loopback──▶ relay (Facteur | Postfix)
#               ──implicit TLS 1.2, client certificate──▶ stunnel ──▶ smtp-sink
#
# Each figure is end to end: from the start of injection to the moment the
# sink has received the last of the N messages. Both relays make a message
# durable before answering 250 (Facteur: fsync + SQLite commit; Postfix:
# fsync of the queue file, its default), on the same disk.
#
# Environment:
#   BENCH_MESSAGES  messages per round                 (2000)
#   BENCH_SIZE_KB   body size of each message, KiB     (100)
#   BENCH_SESSIONS  parallel injecting SMTP sessions   (10)
#   BENCH_ROUNDS    rounds; a round = facteur then postfix (2)
#   BENCH_UPSTREAM  sessions each relay may open to the upstream at once (4)
#   BENCH_TIMEOUT   seconds allowed per relay per round (900)
#   BENCH_DIR       work directory: PKI, configs, queues, logs
#                   (/var/tmp/facteur-bench; emptied at start, kept after)
#
# Last line printed (stdout):
#   relay: facteur X msg/s, postfix Y msg/s, ratio R, facteur peak RSS M MiB
# X and Y are the BEST round of each relay: on a shared machine outside
# interference only ever slows a round down, so the fastest round is the
# closest to what the relay can do. Every round is also logged on stderr.
# R = X / Y. M is the highest VmHWM (peak resident set) of the Facteur
# process over its rounds.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
messages=${BENCH_MESSAGES:-2000}
size_kb=${BENCH_SIZE_KB:-100}
sessions=${BENCH_SESSIONS:-10}
rounds=${BENCH_ROUNDS:-2}
upstream=${BENCH_UPSTREAM:-4}
round_timeout=${BENCH_TIMEOUT:-900}
work=${BENCH_DIR:-/var/tmp/facteur-bench}

sender=cabinet.dupont@test.mssante.fr
recipient=dr.martin@medecin.test.mssante.fr

log() { echo "bench: $*" >&2; }
die() { log "$*"; exit 1; }

for v in messages size_kb sessions rounds upstream round_timeout; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
[ "$(id -u)" -eq 0 ] || die "run as root (Postfix's master and smtp-sink need it)"

# --- dependencies -------------------------------------------------------------
install_deps() {
    local missing=() p
    [ -x /usr/sbin/smtp-source ] && [ -x /usr/sbin/smtp-sink ] \
        && [ -x /usr/lib/postfix/sbin/master ] || missing+=(postfix)
    command -v stunnel4 >/dev/null || missing+=(stunnel4)
    command -v openssl >/dev/null || missing+=(openssl)
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    # The bench runs its own Postfix under BENCH_DIR: install the package
    # unconfigured, and keep the package scripts from starting system-wide
    # services (a policy-rc.d already in place is left as it is).
    local postfix_was_running=no
    [ -s /var/spool/postfix/pid/master.pid ] \
        && kill -0 "$(tr -d ' ' < /var/spool/postfix/pid/master.pid)" 2>/dev/null \
        && postfix_was_running=yes
    export DEBIAN_FRONTEND=noninteractive
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    local policy=/usr/sbin/policy-rc.d created_policy=no
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod +x "$policy"
        created_policy=yes
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || {
        [ "$created_policy" = yes ] && rm -f "$policy"
        die "apt-get install ${missing[*]} failed"
    }
    [ "$created_policy" = yes ] && rm -f "$policy"
    # If a service manager started them anyway, stop what we caused to run.
    for p in postfix stunnel4 dovecot; do
        if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$p" 2>/dev/null; then
            [ "$p" = postfix ] && [ "$postfix_was_running" = yes ] && continue
            systemctl stop "$p" || true
            systemctl disable "$p" >/dev/null 2>&1 || true
        fi
    done
    if [ "$postfix_was_running" = no ] && [ -s /var/spool/postfix/pid/master.pid ]; then
        /usr/sbin/postfix stop >/dev/null 2>&1 || true
    fi
}
install_deps
smtp_source=/usr/sbin/smtp-source
smtp_sink=/usr/sbin/smtp-sink

facteur_src=$repo/target/release/facteur
if [ ! -x "$facteur_src" ]; then
    log "building $facteur_src"
    (cd "$repo" && cargo build --release --bin facteur)
fi

# --- work directory -------------------------------------------------------------
# Facteur's data_dir and Postfix's queue_directory both live here, hence on
# one file system, and it must be a disk: on tmpfs fsync costs nothing and
# the durability both relays pay for would vanish from the figures.
mkdir -p "$work"
work=$(cd "$work" && pwd)
[ "$work" != / ] || die "BENCH_DIR must not be /"
fstype=$(stat -f -c %T "$work")
case $fstype in
    tmpfs|ramfs) die "$work is on $fstype; set BENCH_DIR to a directory on disk" ;;
esac
# Emptied at each run, but only if it is empty or a previous run's.
if [ -n "$(ls -A "$work")" ] && [ ! -e "$work/.facteur-bench" ]; then
    die "$work is not empty and not a previous bench directory; choose another BENCH_DIR"
fi
find "$work" -mindepth 1 -delete
touch "$work/.facteur-bench"
mkdir -p "$work/log"
log "work directory $work ($fstype, $(df -h --output=source "$work" | tail -1 | tr -d ' '))"

# The binary is copied so that a rebuild during the run cannot swap it
# between rounds.
facteur_bin=$work/facteur
cp "$facteur_src" "$facteur_bin"

# Postfix's daemons drop to the postfix user and must reach the queue.
d=$work
while [ "$d" != / ]; do chmod o+x "$d" 2>/dev/null || true; d=$(dirname "$d"); done

# --- processes and cleanup --------------------------------------------------------
pids=()
postfix_dir=$work/postfix
# Configuration apart from the queue: Postfix checks that its configuration
# tree is root's, while the queue's subdirectories are the postfix user's.
postfix_etc=$postfix_dir/etc
postfix_master_pid() { { tr -d ' ' < "$postfix_dir/queue/pid/master.pid"; } 2>/dev/null || true; }
stop_pid() { # pid: TERM, then KILL after 10 s
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
}
stop_postfix() {
    local pid
    pid=$(postfix_master_pid)
    # The master takes its whole process group (smtpd, qmgr, smtp...) down.
    [ -n "$pid" ] && stop_pid "$pid"
    rm -f "$postfix_dir/queue/pid/master.pid"
}
fpid=
cleanup() {
    local p
    [ -n "$fpid" ] && stop_pid "$fpid"
    stop_postfix
    for p in "${pids[@]}"; do stop_pid "$p"; done
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Ports are read from /proc/net/tcp rather than probed by connecting, so
# that no relay or stunnel sees (and logs) a stray connection.
port_hex() { printf ':%04X ' "$1"; }
port_used() { grep -q "^ *[0-9]*: [0-9A-F]*$(port_hex "$1")" /proc/net/tcp; }
listening() { grep -q "^ *[0-9]*: 0100007F$(port_hex "$1")00000000:0000 0A " /proc/net/tcp; }
taken=" "
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 30000))
        [[ $taken == *" $p "* ]] && continue
        port_used "$p" || { taken+="$p "; echo "$p"; return; }
    done
}
wait_port() { # port pid what
    local i
    for i in $(seq 1 600); do
        listening "$1" && return 0
        [ -z "${2:-}" ] || kill -0 "$2" 2>/dev/null || die "$3 exited at start (see $work/log)"
        sleep 0.05
    done
    die "$3 not listening on port $1 after 30 s (see $work/log)"
}

sink_port=$(free_port)
tls_port=$(free_port)
facteur_port=$(free_port)
postfix_port=$(free_port)

# --- test PKI ----------------------------------------------------------------------
# Shaped like IGC-Santé: a CA, the operator's server certificate, and the
# practice's software certificate (CN = its MSSanté mailbox, clientAuth)
# used by both relays. Keys: RSA 2048, PEM. Valid a year: Facteur warns
# about a credential expiring within 30 days.
pki=$work/pki
mkdir -p "$pki"
(
    cd "$pki"
    ossl() { openssl "$@" 2>>"$work/log/pki.log"; }
    ossl req -x509 -newkey rsa:2048 -nodes -sha256 -days 365 -keyout ca-key.pem -out ca.pem \
        -subj "/C=FR/O=BENCH IGC-SANTE/CN=BENCH AC IGC-SANTE ELEMENTAIRE ORGANISATIONS" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    leaf() { # name subject extensions
        ossl req -new -newkey rsa:2048 -nodes -sha256 -keyout "$1-key.pem" -out "$1.csr" -subj "$2"
        printf '%s\n' "$3" > "$1.ext"
        ossl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 365 -sha256 \
            -extfile "$1.ext" -out "$1.pem"
        rm -f "$1.csr" "$1.ext"
    }
    leaf server "/C=FR/O=OPERATEUR BENCH/CN=localhost" \
"basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1"
    leaf client "/C=FR/O=CABINET DUPONT BENCH/CN=$sender" \
"basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
    cat client.pem ca.pem > client-chain.pem
    # Postfix's smtp and tlsproxy read the client key as the postfix user.
    chmod 600 ./*-key.pem
    chgrp postfix client-key.pem
    chmod 640 client-key.pem
) || die "PKI generation failed (see $work/log/pki.log)"

# --- upstream: smtp-sink behind stunnel, client certificate required -------------
# -c: running counters on stdout ("sess=… quit=… mesg=N\r"), mesg counts
# messages whose final "." was received; that is what ends a round.
# -a -C -F: announce no AUTH, XCLIENT, XFORWARD (neither relay would use them).
"$smtp_sink" -c -a -C -F -u nobody -h sink.bench 127.0.0.1:"$sink_port" 256 \
    > "$work/sink.counters" 2> "$work/log/sink.log" &
sink_pid=$!
pids+=("$sink_pid")
cat > "$work/stunnel.conf" <<CONF
foreground = yes
syslog = no
pid =
[operator]
accept = 127.0.0.1:$tls_port
connect = 127.0.0.1:$sink_port
cert = $pki/server.pem
key = $pki/server-key.pem
CAfile = $pki/ca.pem
; verify = 2 of older stunnels: a client certificate is required and its
; chain must verify against the bench CA.
verifyChain = yes
requireCert = yes
sslVersionMin = TLSv1.2
sslVersionMax = TLSv1.2
CONF
stunnel4 "$work/stunnel.conf" </dev/null >/dev/null 2>"$work/log/stunnel.log" &
stunnel_pid=$!
pids+=("$stunnel_pid")
wait_port "$sink_port" "$sink_pid" smtp-sink
wait_port "$tls_port" "$stunnel_pid" stunnel

sink_count() {
    local n
    n=$(tail -c 200 "$work/sink.counters" | tr '\r' '\n' | grep -o 'mesg=[0-9]*' | tail -1 | cut -d= -f2)
    echo "${n:-0}"
}

# Room for the message plus the headers each relay adds, whatever BENCH_SIZE_KB.
size_limit=$(( size_kb * 1024 * 2 + 1048576 ))

# --- Facteur -------------------------------------------------------------------------
facteur_dir=$work/facteur-run
mkdir -p "$facteur_dir"
cat > "$facteur_dir/facteur.toml" <<TOML
data_dir = "$facteur_dir/data"

[log]
level = "warn"

[smtp]
listen = ["127.0.0.1:$facteur_port"]
hostname = "facteur.bench"
trusted_networks = ["127.0.0.1/32"]
max_connections = 64
max_message_size = $size_limit

[mssante]
mailbox = "$sender"
nil = "FACTEUR-BENCH"
whitelist = "$repo/tests/fixtures/listeblanche-test.xml"

[upstream]
host = "127.0.0.1"
port = $tls_port
tls = "implicit"
server_name = "localhost"
trust_anchors = "$pki/ca.pem"
max_sessions = $upstream

[credential]
kind = "software"
certificate = "$pki/client-chain.pem"
key = "$pki/client-key.pem"
TOML
"$facteur_bin" --config "$facteur_dir/facteur.toml" check >"$work/log/facteur-check.log" 2>&1 \
    || die "facteur check failed: $(cat "$work/log/facteur-check.log")"

# --- Postfix relay ---------------------------------------------------------------------
# Its own instance: configuration, queue and data under BENCH_DIR, started
# by running its master with -c, so the system's Postfix (its
# /etc/postfix, /var/spool/postfix, port 25) is neither used nor touched.
#
# Fairness with Facteur:
# - upstream concurrency: smtp_destination_concurrency_limit = BENCH_UPSTREAM,
#   and initial_destination_concurrency too so Postfix does not start lower
#   and ramp up, = Facteur's upstream.max_sessions (4 by default);
# - connection reuse: Facteur keeps its upstream sessions open for up to
#   1000 messages; Postfix does the same with its connection cache and
#   smtp_tls_connection_reuse (via tlsproxy). Without reuse (a resumed TLS
#   handshake per message, no tlsproxy hop) Postfix is no faster on
#   loopback, so the like-for-like setting is kept;
# - TLS: Facteur verifies the operator's certificate against its trust
#   anchors and the name "localhost"; Postfix does the same with level
#   "secure" (encrypt + verification), the client certificate, TLS 1.2;
# - durability: Postfix defaults (queue files fsynced before 250);
# - the smtpd side has no limits below the 10 injecting sessions
#   (default_process_limit 100);
# - everything else is Postfix's default, including in_flow_delay and
#   Nagle's algorithm left on by its SMTP client (Facteur sets TCP_NODELAY):
#   on loopback most of Postfix's messages then wait ~40 ms for the
#   receiver's delayed ACK before their final segment leaves. That is how
#   Postfix behaves, so it is measured, not tuned away (see README.md).
postfix_config() {
    mkdir -p "$postfix_etc"
    cat > "$postfix_etc/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $postfix_dir/queue
data_directory = $postfix_dir/data
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.bench
mydomain = bench
myorigin = \$myhostname
mydestination =
local_recipient_maps =
relay_domains =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
maillog_file = $work/log/postfix.log
maillog_file_prefixes = $work/log
biff = no
message_size_limit = $size_limit
mailbox_size_limit = 0
# Everything goes to the (single) operator; no DNS.
relayhost = [127.0.0.1]:$tls_port
disable_dns_lookups = yes
smtp_dns_support_level = disabled
smtp_host_lookup = native
# Upstream TLS: implicit (RFC 8314), TLS 1.2, client certificate, server
# verified against the bench CA as "localhost".
smtp_tls_wrappermode = yes
smtp_tls_security_level = secure
smtp_tls_secure_cert_match = localhost
smtp_tls_CAfile = $pki/ca.pem
smtp_tls_cert_file = $pki/client-chain.pem
smtp_tls_key_file = $pki/client-key.pem
smtp_tls_mandatory_protocols = >=TLSv1.2, <=TLSv1.2
smtp_tls_protocols = >=TLSv1.2, <=TLSv1.2
smtp_tls_loglevel = 1
smtp_tls_session_cache_database = btree:\$data_directory/smtp_scache
smtp_tls_connection_reuse = yes
smtp_connection_cache_on_demand = yes
# Upstream concurrency, as Facteur's max_sessions.
initial_destination_concurrency = $upstream
smtp_initial_destination_concurrency = $upstream
default_destination_concurrency_limit = $upstream
smtp_destination_concurrency_limit = $upstream
CF
    cat > "$postfix_etc/master.cf" <<CF
127.0.0.1:$postfix_port inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
tlsproxy  unix  -       -       n       -       0       tlsproxy
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
CF
}
postfix_config

start_postfix() {
    rm -rf "$postfix_dir/queue" "$postfix_dir/data"
    mkdir -p "$postfix_dir/queue" "$postfix_dir/data"
    chown postfix "$postfix_dir/data"
    # Creates the queue's subdirectories with their owners and modes.
    /usr/sbin/postfix -c "$postfix_etc" check >>"$work/log/postfix-start.log" 2>&1 || true
    /usr/sbin/postfix -c "$postfix_etc" set-permissions >>"$work/log/postfix-start.log" 2>&1 || true
    MAIL_CONFIG=$postfix_etc /usr/lib/postfix/sbin/master -c "$postfix_etc" -w \
        </dev/null >>"$work/log/postfix-start.log" 2>&1 \
        || die "Postfix master did not start (see $work/log/postfix-start.log)"
    wait_port "$postfix_port" "$(postfix_master_pid)" "postfix"
}

# --- one measurement -------------------------------------------------------------------
# Injects the N messages into PORT with smtp-source (the same command line
# for both relays) and waits until the sink has received N more messages.
# Sets `elapsed` and `injected` (seconds until smtp-source was done);
# returns non-zero on failure or timeout.
elapsed=
injected=
measure() { # name port relay-pid
    local name=$1 port=$2 relay=$3 base start deadline now_s got rc=0
    base=$(sink_count)
    start=$EPOCHREALTIME
    deadline=$(( ${start%.*} + round_timeout ))
    # -d: one connection per injecting session, reused for its messages.
    timeout "$round_timeout" "$smtp_source" -4 -d -s "$sessions" -m "$messages" -l $((size_kb * 1024)) \
        -M bench.client -f "$sender" -t "$recipient" -S "Compte rendu (bench)" \
        127.0.0.1:"$port" >"$work/log/source-$name.log" 2>&1 || rc=$?
    injected=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
    if [ "$rc" -ne 0 ]; then
        log "$name: smtp-source failed (exit $rc): $(tail -3 "$work/log/source-$name.log" | tr '\n' ' ')"
        return 1
    fi
    while :; do
        got=$(( $(sink_count) - base ))
        [ "$got" -ge "$messages" ] && break
        if ! kill -0 "$relay" 2>/dev/null; then
            log "$name: the relay exited with $got/$messages delivered upstream"
            return 1
        fi
        now_s=${EPOCHREALTIME%.*}
        if [ "$now_s" -ge "$deadline" ]; then
            log "$name: timed out after ${round_timeout}s with $got/$messages delivered upstream"
            return 1
        fi
        sleep 0.02
    done
    elapsed=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f", b - a }')
}

# Messages the sink got beyond N once the relay is stopped (duplicates).
report_extra() { # name base
    local extra=$(( $(sink_count) - $2 - messages ))
    [ "$extra" -eq 0 ] || log "$1: the sink received $extra message(s) more than sent"
}

facteur_rates=()
postfix_rates=()
peak_kib=0
log "$rounds round(s) of $messages x ${size_kb} KiB, $sessions injecting sessions, $upstream upstream sessions per relay"

for round in $(seq 1 "$rounds"); do
    # Facteur, from an empty data directory.
    rm -rf "$facteur_dir/data"
    echo "=== round $round ===" >> "$work/log/facteur.log"
    "$facteur_bin" --config "$facteur_dir/facteur.toml" run </dev/null >>"$work/log/facteur.log" 2>&1 &
    fpid=$!
    wait_port "$facteur_port" "$fpid" facteur
    base=$(sink_count)
    measure "facteur-$round" "$facteur_port" "$fpid" || die "facteur round $round failed (logs in $work/log)"
    hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$fpid/status" 2>/dev/null || echo 0)
    [ "${hwm:-0}" -gt "$peak_kib" ] && peak_kib=$hwm
    stop_pid "$fpid"
    wait "$fpid" 2>/dev/null || true
    fpid=
    report_extra "facteur-$round" "$base"
    rate=$(awk -v n="$messages" -v s="$elapsed" 'BEGIN { printf "%.3f", n / s }')
    facteur_rates+=("$rate")
    log "round $round facteur: $messages in ${elapsed}s = $rate msg/s (injection ${injected}s), VmHWM $(awk -v k="$hwm" 'BEGIN { printf "%.1f", k / 1024 }') MiB"

    # Postfix, from an empty queue.
    start_postfix
    base=$(sink_count)
    measure "postfix-$round" "$postfix_port" "$(postfix_master_pid)" || die "postfix round $round failed (logs in $work/log)"
    stop_postfix
    report_extra "postfix-$round" "$base"
    rate=$(awk -v n="$messages" -v s="$elapsed" 'BEGIN { printf "%.3f", n / s }')
    postfix_rates+=("$rate")
    log "round $round postfix: $messages in ${elapsed}s = $rate msg/s (injection ${injected}s)"
done

best() { printf '%s\n' "$@" | sort -g | tail -1; }
f=$(best "${facteur_rates[@]}")
p=$(best "${postfix_rates[@]}")
awk -v f="$f" -v p="$p" -v k="$peak_kib" 'BEGIN {
    printf "relay: facteur %.1f msg/s, postfix %.1f msg/s, ratio %.2f, facteur peak RSS %.1f MiB\n", f, p, f / p, k / 1024
}'
