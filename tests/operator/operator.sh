#!/usr/bin/env bash
# A test MSSanté operator on loopback: a real Postfix (submission with
# STARTTLS, client certificate required and verified against the test
# IGC-Santé chain) delivering by LMTP into a real Dovecot (IMAP with
# STARTTLS, client certificate required, SASL EXTERNAL or PLAIN), both from
# Debian's packages. Everything lives under DIR (configuration, queue, mail,
# logs, pid files), so several operators run side by side on other ports;
# the system's own Postfix and Dovecot are never touched.
#
#   operator.sh start DIR        generate the PKI (once per DIR), (re)start both,
#                                write DIR/operator.env
#   operator.sh stop DIR         stop both, wait until their processes are gone
#   operator.sh stop-smtp DIR    stop only Postfix (the operator is unreachable);
#                                queued mail stays in DIR's queue
#   operator.sh start-smtp DIR   start Postfix again
#   operator.sh status DIR       one line per service; exit 0 only if all are up
#
# Settings (environment, read at `start` and remembered in DIR/ports):
#   OPERATOR_SMTP_PORT   submission, STARTTLS          (10587)
#   OPERATOR_SMTPS_PORT  submission, implicit TLS      (10465)
#   OPERATOR_IMAP_PORT   IMAP, STARTTLS                (10143)
#   OPERATOR_LMTP_PORT   Dovecot LMTP, for Postfix     (10024)
#   OPERATOR_TLS_POLICY  open: TLS 1.2 or 1.3, usual suites (default)
#                        mssante: TLS 1.2 only, with only the four suites of
#                        the MSSanté client rules (ECO.1.1.2/ECO.1.1.3)
#   OPERATOR_AUTH        certificate: client certificate required, as above
#                        (default)
#                        oauth2: "TLS then XOAUTH2", as operators do for Pro
#                        Santé Connect: no client certificate; submission and
#                        IMAP take SASL XOAUTH2 or OAUTHBEARER with an access
#                        token, which Dovecot checks by introspection at the
#                        OpenID provider (Postfix asks Dovecot); IMAP still
#                        takes PLAIN with the test password
#   OPERATOR_AUTH_PORT   Dovecot's SASL service for Postfix, oauth2 (10030)
#   OPERATOR_OAUTH_INTROSPECTION_URL  oauth2: the provider's introspection
#                        endpoint (RFC 7662) with the operator's client
#                        credentials: https://ID:SECRET@localhost:PORT/PATH
#   OPERATOR_OAUTH_CA    oauth2: CA file the provider's certificate chains to
#   OPERATOR_OAUTH_OPENID_CONFIGURATION_URL  oauth2, optional: the provider's
#                        discovery URL, named in OAUTHBEARER's error reply
#
# Test recipients with fixed behaviour (see DIR/operator.env):
#   rejet.permanent@medecin.test.mssante.fr    550 at RCPT
#   rejet.temporaire@medecin.test.mssante.fr   451 at RCPT
#   any other unknown address of a hosted domain    550 5.1.1 at RCPT
#   Subject containing [rejet-data-5xx] / [rejet-data-4xx]: 550 / 451 after DATA
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
usage="usage: operator.sh start|stop|stop-smtp|start-smtp|status DIR"
cmd=${1:?$usage}
dir=${2:?$usage}
case $cmd in
start) mkdir -p "$dir" ;;
*) [ -d "$dir" ] || { echo "operator: no operator in $dir" >&2; exit 1; } ;;
esac
dir=$(cd "$dir" && pwd)
pki=$dir/pki
pf=$dir/postfix
pf_queue=$dir/spool/postfix
pf_data=$dir/spool/postfix-data
dv=$dir/dovecot
log=$dir/log

DOMAINS="test.mssante.fr medecin.test.mssante.fr hopital.test.mssante.fr"
mailboxes=(cabinet.dupont@test.mssante.fr dr.martin@medecin.test.mssante.fr secretariat@hopital.test.mssante.fr)
IMAP_PASSWORD=operator-test
MAX_SIZE=52428800
# What MSSanté allows clients (ECO.1.1.3), in OpenSSL's names.
MSSANTE_CIPHERS=ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-SHA384:ECDHE-RSA-AES128-SHA256

# Bounded: a socket that listens but never accepts would otherwise hold
# connect() until the kernel gives up, minutes later.
# shellcheck disable=SC2016  # $1 is for the inner shell
port_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null; }

wait_port() { # port timeout_s
    local end=$((SECONDS + $2 + 1))
    while ((SECONDS < end)); do
        port_open "$1" && return 0
        sleep 0.05
    done
    echo "operator: port $1 not listening after $2 s (see $log)" >&2
    return 1
}

wait_closed() { # port timeout_s
    local end=$((SECONDS + $2 + 1))
    while ((SECONDS < end)); do
        port_open "$1" || return 0
        sleep 0.05
    done
    echo "operator: port $1 still open after $2 s" >&2
    return 1
}

wait_gone() { # pid timeout_s
    local end=$((SECONDS + $2 + 1))
    while ((SECONDS < end)); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.05
    done
    return 1
}

load_ports() {
    [ -f "$dir/ports" ] || { echo "operator: $dir was never started" >&2; exit 1; }
    # Only an oauth2 operator's file names its authentication.
    OPERATOR_AUTH=certificate
    # shellcheck disable=SC1091
    . "$dir/ports"
}

# Postfix and Dovecot drop privileges (to postfix, mail, dovecot): the
# directories they use must be reachable by those users, including the
# parents of DIR (pytest's temporary directories are mode 700).
open_path() {
    local d=$1
    while [ "$d" != / ]; do
        chmod o+x "$d" 2>/dev/null || true
        d=$(dirname "$d")
    done
}

# Writes stdin to FILE, leaving FILE untouched when the content is the
# same. Postfix's master waits two seconds before starting when main.cf is
# younger than that (it guards against edits in progress): a file written
# here is complete, so it is dated a minute back.
write_file() {
    local tmp
    tmp=$(mktemp "$1.XXXXXX")
    cat > "$tmp"
    chmod 644 "$tmp"
    if cmp -s "$tmp" "$1"; then
        rm -f "$tmp"
    else
        touch -d '-1 min' "$tmp"
        mv -f "$tmp" "$1"
    fi
}

configure_postfix() {
    mkdir -p "$pf" "$pf_queue" "$pf_data" "$log"
    open_path "$pf_queue"
    open_path "$pf_data"

    local tls
    if [ "$OPERATOR_TLS_POLICY" = mssante ]; then
        tls="smtpd_tls_protocols = >=TLSv1.2, <=TLSv1.2
smtpd_tls_mandatory_protocols = >=TLSv1.2, <=TLSv1.2
smtpd_tls_mandatory_ciphers = high
smtpd_tls_ciphers = high
tls_high_cipherlist = $MSSANTE_CIPHERS"
    else
        tls="smtpd_tls_protocols = >=TLSv1.2
smtpd_tls_mandatory_protocols = >=TLSv1.2"
    fi

    local auth relay
    if [ "$OPERATOR_AUTH" = oauth2 ]; then
        auth="# TLS: the server certificate comes from the test IGC-Santé PKI; clients
# present none (\"TLS then XOAUTH2\"): after STARTTLS they authenticate with
# SASL XOAUTH2 or OAUTHBEARER and an OpenID access token. Dovecot's auth
# service checks the token by introspection at the provider.
smtpd_tls_cert_file = $pki/server.pem
smtpd_tls_key_file = $pki/server.key
smtpd_tls_security_level = encrypt
smtpd_tls_received_header = yes
smtpd_tls_loglevel = 1
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:127.0.0.1:$OPERATOR_AUTH_PORT
smtpd_tls_auth_only = yes
smtpd_sasl_security_options = noanonymous
smtpd_sasl_authenticated_header = yes"
        relay="permit_sasl_authenticated, reject"
    else
        auth="# TLS: the server certificate comes from the test IGC-Santé PKI, and every
# client must present a certificate that chains to it (mutual
# authentication, as MSSanté requires). The CA file holds the roots and the
# issuing CAs, as operators load the published IGC-Santé chain, so a client
# presenting only its leaf (a CPS card) is verified too.
smtpd_tls_cert_file = $pki/server.pem
smtpd_tls_key_file = $pki/server.key
smtpd_tls_CAfile = $pki/ca-chain.pem
smtpd_tls_security_level = encrypt
smtpd_tls_ask_ccert = yes
smtpd_tls_req_ccert = yes
smtpd_tls_received_header = yes
smtpd_tls_loglevel = 1"
        relay="permit_tls_all_clientcerts, reject"
    fi

    write_file "$pf/main.cf" <<CF
# Test MSSanté operator, generated by tests/operator/operator.sh.
compatibility_level = 3.6
queue_directory = $pf_queue
data_directory = $pf_data
mail_owner = postfix
setgid_group = postdrop
myhostname = smtp.operateur.test
mydomain = operateur.test
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
maillog_file = $log/postfix.log
maillog_file_prefixes = $log
# No local delivery, so no aliases (the default would open /etc/aliases.db).
alias_maps =
alias_database =
local_recipient_maps =
# No DNS anywhere: this operator lives on loopback only.
disable_dns_lookups = yes
smtp_dns_support_level = disabled
lmtp_host_lookup = native
smtp_host_lookup = native
message_size_limit = $MAX_SIZE
biff = no
# Tests restart pieces and expect deferred mail to move within seconds.
queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 30s

# The MSSanté mailboxes it hosts, delivered into Dovecot by LMTP.
virtual_mailbox_domains = $DOMAINS
virtual_mailbox_maps = texthash:$pf/mailboxes
virtual_transport = lmtp:inet:127.0.0.1:$OPERATOR_LMTP_PORT

$auth
$tls

# Mail only from verified clients, and only to the mailboxes hosted here.
smtpd_helo_required = yes
disable_vrfy_command = yes
smtpd_relay_restrictions = $relay
smtpd_recipient_restrictions =
    check_recipient_access texthash:$pf/recipient_access,
    reject_unauth_destination,
    reject_unlisted_recipient
header_checks = regexp:$pf/header_checks
CF
    printf '%s ok\n' "${mailboxes[@]}" | write_file "$pf/mailboxes"
    write_file "$pf/recipient_access" <<'CF'
rejet.permanent@medecin.test.mssante.fr 550 5.2.1 Boite aux lettres fermee (test de refus permanent)
rejet.temporaire@medecin.test.mssante.fr 451 4.3.0 Service temporairement indisponible (test de refus temporaire)
CF
    write_file "$pf/header_checks" <<'CF'
/^Subject:.*\[rejet-data-5xx\]/ REJECT 5.7.1 Message refuse apres DATA (test)
/^Subject:.*\[rejet-data-4xx\]/ REJECT 4.3.0 Message differe apres DATA (test)
CF
    # Only the submission services listen; no port 25, no local delivery.
    write_file "$pf/master.cf" <<CF
127.0.0.1:$OPERATOR_SMTP_PORT inet n - n - - smtpd
127.0.0.1:$OPERATOR_SMTPS_PORT inet n - n - - smtpd
  -o smtpd_tls_wrappermode=yes
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
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
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
CF
}

configure_dovecot() {
    mkdir -p "$dv/run" "$dv/state" "$dir/mail" "$log"
    chown mail:mail "$dir/mail"
    open_path "$dir/mail"
    local m
    for m in "${mailboxes[@]}"; do
        echo "$m:{PLAIN}$IMAP_PASSWORD::::::"
    done | write_file "$dv/users"
    {
        for m in "${mailboxes[@]}"; do
            echo "$m:::::::nopassword=y"
        done
        # The practitioners' cards name a national id, not a mailbox: the
        # operator maps them to the practice's mailbox.
        echo "899700000001:::::::nopassword=y user=cabinet.dupont@test.mssante.fr"
        echo "899700000002:::::::nopassword=y user=cabinet.dupont@test.mssante.fr"
    } | write_file "$dv/users-cert"

    # Dovecot 2.3 has no maximum TLS version setting; OpenSSL's own
    # configuration caps it (and the TLS 1.2 suites) for the strict policy.
    local strict=""
    if [ "$OPERATOR_TLS_POLICY" = mssante ]; then
        write_file "$dv/openssl.cnf" <<CNF
openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
MinProtocol = TLSv1.2
MaxProtocol = TLSv1.2
CipherString = $MSSANTE_CIPHERS
CNF
        strict="ssl_cipher_list = $MSSANTE_CIPHERS
import_environment = \$import_environment OPENSSL_CONF=$dv/openssl.cnf"
    fi

    local verify identity mech_passdb auth_service
    if [ "$OPERATOR_AUTH" = oauth2 ]; then
        verify=no
        identity="# \"TLS then XOAUTH2\": no client certificate. The client names its mailbox
# and proves it with an OpenID access token (XOAUTH2 or OAUTHBEARER), or,
# for tests reading mailboxes back, with the test password (PLAIN).
auth_mechanisms = plain xoauth2 oauthbearer
# Why a token was refused (inactive, another mailbox, provider down) goes
# to the log: tests of the box look there.
auth_verbose = yes"
        mech_passdb="# XOAUTH2 / OAUTHBEARER: the token is introspected at the provider, which
# must call it active and name this very mailbox as its \"email\" (the
# provider maps the practitioner's identity to the mailbox).
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $dv/oauth2.conf.ext
}"
        auth_service="
# Postfix's SASL (smtpd_sasl_path) goes through this same auth service.
service auth {
  inet_listener {
    address = 127.0.0.1
    port = $OPERATOR_AUTH_PORT
  }
}"
        local discovery=""
        if [ -n "${OPERATOR_OAUTH_OPENID_CONFIGURATION_URL:-}" ]; then
            discovery="openid_configuration_url = $OPERATOR_OAUTH_OPENID_CONFIGURATION_URL"
        fi
        write_file "$dv/oauth2.conf.ext" <<CF
# Access tokens are checked by introspection (RFC 7662) at every
# authentication, so a revoked or expired token fails at once. The
# operator's client credentials are in the URL (HTTP basic).
introspection_mode = post
introspection_url = $OPERATOR_OAUTH_INTROSPECTION_URL
force_introspection = yes
active_attribute = active
active_value = true
username_attribute = email
tls_ca_cert_file = $OPERATOR_OAUTH_CA
timeout_msecs = 10000
$discovery
CF
    else
        verify=yes
        identity="# The certificate is the identity: its CN, the mailbox address, is the user
# whatever the client names (EXTERNAL, or PLAIN with the test password).
auth_ssl_require_client_cert = yes
auth_ssl_username_from_cert = yes
ssl_cert_username_field = commonName
auth_mechanisms = external plain"
        mech_passdb="# EXTERNAL: the verified certificate is the whole proof, so its passdb
# needs no password, but still only knows the hosted mailboxes. Dovecot's
# EXTERNAL checks an empty password against the passdb: without this one it
# always fails.
passdb {
  driver = passwd-file
  mechanisms = external
  args = username_format=%u $dv/users-cert
}"
        auth_service=""
    fi

    write_file "$dv/dovecot.conf" <<CF
# Test operator's mail store, generated by tests/operator/operator.sh.
instance_name = facteur-operator-$OPERATOR_IMAP_PORT
base_dir = $dv/run
state_dir = $dv/state
log_path = $log/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
# Mail is stored as Debian's \`mail\` user (uid 8), which exists on every
# Debian system: no account to create, and Dovecot never writes mail as root.
first_valid_uid = $(id -u mail)
mail_uid = mail
mail_gid = mail
mail_location = maildir:$dir/mail/%d/%n

ssl = required
ssl_cert = <$pki/server.pem
ssl_key = <$pki/server.key
ssl_ca = <$pki/ca-chain.pem
ssl_min_protocol = TLSv1.2
ssl_verify_client_cert = $verify
# The test PKI publishes no CRL.
ssl_require_crl = no
$strict
$identity
# Tests check refusals: no need to slow them down by two seconds each.
auth_failure_delay = 0
disable_plaintext_auth = yes

$mech_passdb
# PLAIN: the test password, for tests reading mailboxes back.
passdb {
  driver = passwd-file
  mechanisms = plain
  args = scheme=PLAIN username_format=%u $dv/users
}
# Only the hosted mailboxes exist (LMTP refuses others), all stored as mail.
userdb {
  driver = passwd-file
  args = username_format=%u $dv/users
  default_fields = uid=mail gid=mail home=$dir/mail/%d/%n
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = $OPERATOR_IMAP_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $OPERATOR_LMTP_PORT
  }
}
service anvil {
  chroot =
  # No growing delays after failed logins from 127.0.0.1: tests make them
  # on purpose (without the socket, the auth process skips the penalty).
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
protocol lmtp {
  postmaster_address = postmaster@test.mssante.fr
}$auth_service
CF
}

postfix_pid() {
    # (Directories made by earlier versions kept the queue in DIR/postfix/queue.)
    cat "$pf_queue/pid/master.pid" "$pf/queue/pid/master.pid" 2>/dev/null | tr -d ' ' | head -n 1 || true
}
dovecot_pid() { cat "$dv/run/master.pid" 2>/dev/null || true; }
running() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# The queue's layout, as `postfix check` would make it, but in a few
# milliseconds instead of seconds (it runs postconf dozens of times).
make_queue() {
    local q
    install -d -o root -g root -m 755 "$pf_queue" "$pf_queue/pid"
    for q in active bounce corrupt defer deferred flush hold incoming private saved trace; do
        install -d -o postfix -g root -m 700 "$pf_queue/$q"
    done
    install -d -o postfix -g postdrop -m 730 "$pf_queue/maildrop"
    install -d -o postfix -g postdrop -m 710 "$pf_queue/public"
    install -d -o postfix -g root -m 700 "$pf_data"
}

start_postfix() {
    load_ports
    if running "$(postfix_pid)"; then return 0; fi
    make_queue
    # The master daemon itself, not the `postfix start` wrapper: the wrapper
    # wants alternate configuration directories registered in the system's
    # main.cf. -w returns once the master is up. Daemons must not inherit
    # our stdout/stderr: a caller reading them would wait forever.
    if ! MAIL_CONFIG=$pf /usr/lib/postfix/sbin/master -c "$pf" -w </dev/null >>"$log/postfix-start.log" 2>&1; then
        echo "operator: postfix did not start; last lines of $log/postfix.log:" >&2
        tail -n 5 "$log/postfix.log" >&2 2>/dev/null || true
        return 1
    fi
    wait_port "$OPERATOR_SMTP_PORT" 30
    wait_port "$OPERATOR_SMTPS_PORT" 30
}

stop_postfix() {
    load_ports
    local pid
    pid=$(postfix_pid)
    rm -f "$pf_queue/pid/master.pid" "$pf/queue/pid/master.pid"
    running "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" 20; then
        echo "operator: postfix master $pid ignored TERM, killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid" 5 || true
    fi
    wait_closed "$OPERATOR_SMTP_PORT" 10
    wait_closed "$OPERATOR_SMTPS_PORT" 10
}

start_dovecot() {
    load_ports
    if running "$(dovecot_pid)"; then return 0; fi
    if ! /usr/sbin/dovecot -c "$dv/dovecot.conf" </dev/null >>"$log/dovecot-start.log" 2>&1; then
        echo "operator: dovecot did not start:" >&2
        tail -n 5 "$log/dovecot-start.log" "$log/dovecot.log" >&2 2>/dev/null || true
        return 1
    fi
    wait_port "$OPERATOR_IMAP_PORT" 30
    wait_port "$OPERATOR_LMTP_PORT" 30
    if [ "$OPERATOR_AUTH" = oauth2 ]; then wait_port "$OPERATOR_AUTH_PORT" 30; fi
}

stop_dovecot() {
    load_ports
    local pid
    pid=$(dovecot_pid)
    running "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" 20; then
        echo "operator: dovecot master $pid ignored TERM, killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid" 5 || true
    fi
    wait_closed "$OPERATOR_IMAP_PORT" 10
    wait_closed "$OPERATOR_LMTP_PORT" 10
    if [ "$OPERATOR_AUTH" = oauth2 ]; then wait_closed "$OPERATOR_AUTH_PORT" 10; fi
}

# Each master takes about two seconds to shut down: stop both at once.
stop_all() {
    stop_postfix &
    local p=$!
    stop_dovecot
    wait "$p"
}

write_env() {
    load_ports
    # KEY=value, no quotes and no spaces: both `.`-able by a shell and
    # readable with a plain split on the first "=".
    cat > "$dir/operator.env.tmp" <<ENV
OPERATOR_DIR=$dir
OPERATOR_SMTP_HOST=127.0.0.1
OPERATOR_SMTP_PORT=$OPERATOR_SMTP_PORT
OPERATOR_SMTPS_PORT=$OPERATOR_SMTPS_PORT
OPERATOR_IMAP_HOST=127.0.0.1
OPERATOR_IMAP_PORT=$OPERATOR_IMAP_PORT
OPERATOR_LMTP_PORT=$OPERATOR_LMTP_PORT
OPERATOR_TLS_POLICY=$OPERATOR_TLS_POLICY
OPERATOR_SERVER_NAME=localhost
OPERATOR_CA=$pki/ca.pem
OPERATOR_CA_CHAIN=$pki/ca-chain.pem
OPERATOR_PKI=$pki
OPERATOR_MAX_SIZE=$MAX_SIZE
OPERATOR_MAILBOXES=$(IFS=,; echo "${mailboxes[*]}")
OPERATOR_IMAP_PASSWORD=$IMAP_PASSWORD
OPERATOR_POSTFIX_CONFIG=$pf
OPERATOR_LOG_DIR=$log
MAIL_ROOT=$dir/mail
CLIENT_MAILBOX=cabinet.dupont@test.mssante.fr
CLIENT_CERT=$pki/client-chain.pem
CLIENT_KEY=$pki/client.key
CLIENT_P12=$pki/client.p12
CLIENT_P12_PASS_FILE=$pki/client.p12.pass
PRACTITIONER_CERT=$pki/practitioner.pem
PRACTITIONER_CERT_DER=$pki/practitioner.der
PRACTITIONER_KEY=$pki/practitioner.key
PRACTITIONER_ID=899700000001
PRACTITIONER2_CERT_DER=$pki/practitioner2.der
PRACTITIONER2_KEY=$pki/practitioner2.key
CARD_INTERMEDIATES=$pki/ac-per.pem
OUTSIDER_CA=$pki/outsider-ca.pem
OUTSIDER_CERT=$pki/outsider.pem
OUTSIDER_KEY=$pki/outsider.key
DEMO_TO=dr.martin@medecin.test.mssante.fr
REJECT_PERMANENT_RCPT=rejet.permanent@medecin.test.mssante.fr
REJECT_TEMPORARY_RCPT=rejet.temporaire@medecin.test.mssante.fr
UNKNOWN_RCPT=inconnu@medecin.test.mssante.fr
REJECT_DATA_PERMANENT_TAG=[rejet-data-5xx]
REJECT_DATA_TEMPORARY_TAG=[rejet-data-4xx]
ENV
    if [ "$OPERATOR_AUTH" = oauth2 ]; then
        cat >> "$dir/operator.env.tmp" <<ENV
OPERATOR_AUTH=oauth2
OPERATOR_AUTH_PORT=$OPERATOR_AUTH_PORT
OPERATOR_OAUTH_INTROSPECTION_URL=$OPERATOR_OAUTH_INTROSPECTION_URL
OPERATOR_OAUTH_CA=$OPERATOR_OAUTH_CA
OPERATOR_OAUTH_OPENID_CONFIGURATION_URL=${OPERATOR_OAUTH_OPENID_CONFIGURATION_URL:-}
ENV
    fi
    mv "$dir/operator.env.tmp" "$dir/operator.env"
}

status() {
    load_ports
    local rc=0 pid p
    pid=$(postfix_pid)
    if running "$pid"; then echo "postfix: running, pid $pid"; else echo "postfix: stopped"; rc=3; fi
    pid=$(dovecot_pid)
    if running "$pid"; then echo "dovecot: running, pid $pid"; else echo "dovecot: stopped"; rc=3; fi
    local ports=("smtp:$OPERATOR_SMTP_PORT" "smtps:$OPERATOR_SMTPS_PORT" "imap:$OPERATOR_IMAP_PORT" "lmtp:$OPERATOR_LMTP_PORT")
    if [ "$OPERATOR_AUTH" = oauth2 ]; then ports+=("auth:$OPERATOR_AUTH_PORT"); fi
    for p in "${ports[@]}"; do
        if port_open "${p#*:}"; then echo "${p%%:*} 127.0.0.1:${p#*:} up"; else echo "${p%%:*} 127.0.0.1:${p#*:} down"; rc=3; fi
    done
    return $rc
}

case $cmd in
start)
    # The caller's authentication settings: stop_all below loads the
    # previous ones from DIR/ports over them.
    asked=("${OPERATOR_AUTH:-}" "${OPERATOR_AUTH_PORT:-}" "${OPERATOR_OAUTH_INTROSPECTION_URL:-}"
        "${OPERATOR_OAUTH_CA:-}" "${OPERATOR_OAUTH_OPENID_CONFIGURATION_URL:-}")
    # A restart of a running operator keeps its ports unless new ones are given.
    if [ -f "$dir/ports" ]; then
        # shellcheck disable=SC1091
        prev=$( . "$dir/ports"; echo "$OPERATOR_SMTP_PORT $OPERATOR_IMAP_PORT $OPERATOR_LMTP_PORT ${OPERATOR_SMTPS_PORT:-} ${OPERATOR_TLS_POLICY:-}")
        read -r p_smtp p_imap p_lmtp p_smtps p_tls <<<"$prev"
        # Any of these may be missing: "|" keeps the empty ones in place.
        # shellcheck disable=SC1091
        prev=$(
            unset OPERATOR_AUTH OPERATOR_AUTH_PORT OPERATOR_OAUTH_INTROSPECTION_URL OPERATOR_OAUTH_CA \
                OPERATOR_OAUTH_OPENID_CONFIGURATION_URL
            . "$dir/ports"
            echo "${OPERATOR_AUTH:-}|${OPERATOR_AUTH_PORT:-}|${OPERATOR_OAUTH_INTROSPECTION_URL:-}|${OPERATOR_OAUTH_CA:-}|${OPERATOR_OAUTH_OPENID_CONFIGURATION_URL:-}"
        )
        IFS='|' read -r p_auth p_auth_port p_oauth_url p_oauth_ca p_oauth_discovery <<<"$prev"
        stop_all
    fi
    OPERATOR_SMTP_PORT=${OPERATOR_SMTP_PORT:-${p_smtp:-10587}}
    OPERATOR_IMAP_PORT=${OPERATOR_IMAP_PORT:-${p_imap:-10143}}
    OPERATOR_LMTP_PORT=${OPERATOR_LMTP_PORT:-${p_lmtp:-10024}}
    OPERATOR_SMTPS_PORT=${OPERATOR_SMTPS_PORT:-${p_smtps:-10465}}
    OPERATOR_TLS_POLICY=${OPERATOR_TLS_POLICY:-${p_tls:-open}}
    case $OPERATOR_TLS_POLICY in
    open | mssante) ;;
    *) echo "operator: OPERATOR_TLS_POLICY must be open or mssante" >&2; exit 2 ;;
    esac
    OPERATOR_AUTH=${asked[0]:-${p_auth:-certificate}}
    used_ports=("$OPERATOR_SMTP_PORT" "$OPERATOR_SMTPS_PORT" "$OPERATOR_IMAP_PORT" "$OPERATOR_LMTP_PORT")
    case $OPERATOR_AUTH in
    certificate) ;;
    oauth2)
        OPERATOR_AUTH_PORT=${asked[1]:-${p_auth_port:-10030}}
        OPERATOR_OAUTH_INTROSPECTION_URL=${asked[2]:-${p_oauth_url:-}}
        OPERATOR_OAUTH_CA=${asked[3]:-${p_oauth_ca:-}}
        OPERATOR_OAUTH_OPENID_CONFIGURATION_URL=${asked[4]:-${p_oauth_discovery:-}}
        if [ -z "$OPERATOR_OAUTH_INTROSPECTION_URL" ] || [ -z "$OPERATOR_OAUTH_CA" ]; then
            echo "operator: OPERATOR_AUTH=oauth2 needs OPERATOR_OAUTH_INTROSPECTION_URL and OPERATOR_OAUTH_CA" >&2
            exit 2
        fi
        # The values go unquoted into files a shell sources (DIR/ports,
        # DIR/operator.env): URL characters only.
        for v in "$OPERATOR_OAUTH_INTROSPECTION_URL" "$OPERATOR_OAUTH_CA" "$OPERATOR_OAUTH_OPENID_CONFIGURATION_URL"; do
            case $v in
            *[!A-Za-z0-9:/@._~%+=-]*) echo "operator: unsupported character in $v" >&2; exit 2 ;;
            esac
        done
        used_ports+=("$OPERATOR_AUTH_PORT")
        ;;
    *) echo "operator: OPERATOR_AUTH must be certificate or oauth2" >&2; exit 2 ;;
    esac
    for p in "${used_ports[@]}"; do
        if port_open "$p"; then echo "operator: port $p is already in use" >&2; exit 1; fi
    done
    cat > "$dir/ports" <<P
OPERATOR_SMTP_PORT=$OPERATOR_SMTP_PORT
OPERATOR_IMAP_PORT=$OPERATOR_IMAP_PORT
OPERATOR_LMTP_PORT=$OPERATOR_LMTP_PORT
OPERATOR_SMTPS_PORT=$OPERATOR_SMTPS_PORT
OPERATOR_TLS_POLICY=$OPERATOR_TLS_POLICY
P
    if [ "$OPERATOR_AUTH" = oauth2 ]; then
        cat >> "$dir/ports" <<P
OPERATOR_AUTH=$OPERATOR_AUTH
OPERATOR_AUTH_PORT=$OPERATOR_AUTH_PORT
OPERATOR_OAUTH_INTROSPECTION_URL=$OPERATOR_OAUTH_INTROSPECTION_URL
OPERATOR_OAUTH_CA=$OPERATOR_OAUTH_CA
OPERATOR_OAUTH_OPENID_CONFIGURATION_URL=$OPERATOR_OAUTH_OPENID_CONFIGURATION_URL
P
    fi
    bash "$here/pki.sh" "$pki"
    open_path "$pki"
    configure_postfix
    # The demo shows both directions with one message: a copy of what is
    # sent to the demo correspondent comes back to OPERATOR_ECHO_TO.
    if [ -n "${OPERATOR_ECHO_TO:-}" ]; then
        echo "dr.martin@medecin.test.mssante.fr $OPERATOR_ECHO_TO" > "$pf/echo"
        echo "recipient_bcc_maps = texthash:$pf/echo" >> "$pf/main.cf"
    fi
    configure_dovecot
    # Half an operator is worse than none: on failure, stop what did start.
    if ! { start_dovecot && start_postfix; }; then
        stop_all || true
        exit 1
    fi
    write_env
    echo "operator ready: smtp=127.0.0.1:$OPERATOR_SMTP_PORT imap=127.0.0.1:$OPERATOR_IMAP_PORT env=$dir/operator.env"
    ;;
stop)
    [ -f "$dir/ports" ] || exit 0
    stop_all
    ;;
stop-smtp) stop_postfix ;;
start-smtp) start_postfix ;;
status) status ;;
*) echo "operator: unknown command $cmd; $usage" >&2; exit 2 ;;
esac
