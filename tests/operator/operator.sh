#!/usr/bin/env bash
# A test MSSanté operator on loopback: a real Postfix (submission with
# STARTTLS, client certificate required and verified) delivering by LMTP
# into a real Dovecot (IMAP with STARTTLS, client-certificate login), both
# from Debian's packages, everything under DIR.
#
#   operator.sh start DIR        generate the PKI (once), start both, write DIR/operator.env
#   operator.sh stop DIR         stop both
#   operator.sh stop-smtp DIR    stop only Postfix (operator unreachable)
#   operator.sh start-smtp DIR   start Postfix again
#   operator.sh status DIR
#
# Ports: OPERATOR_SMTP_PORT (10587, STARTTLS), OPERATOR_SMTPS_PORT (10465,
# implicit TLS), OPERATOR_IMAP_PORT (10143), OPERATOR_LMTP_PORT (10024),
# read at `start` and remembered in DIR.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:?usage: operator.sh start|stop|stop-smtp|start-smtp|status DIR}
dir=${2:?usage: operator.sh $cmd DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
pki=$dir/pki
pf=$dir/postfix
dv=$dir/dovecot
log=$dir/log

DOMAINS="test.mssante.fr medecin.test.mssante.fr hopital.test.mssante.fr"
MAILBOXES="cabinet.dupont@test.mssante.fr dr.martin@medecin.test.mssante.fr secretariat@hopital.test.mssante.fr"
IMAP_PASSWORD=operator-test

wait_port() { # port timeout_s
    local i
    for i in $(seq 1 $(( $2 * 20 ))); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "operator: port $1 not listening after $2 s" >&2
    return 1
}

wait_closed() { # port timeout_s
    local i
    for i in $(seq 1 $(( $2 * 20 ))); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    return 1
}

load_ports() {
    # shellcheck disable=SC1091
    . "$dir/ports"
}

configure_postfix() {
    mkdir -p "$pf/queue" "$pf/data" "$log"
    chown postfix "$pf/data"
    # Postfix's own programs drop privileges: they must be able to reach
    # the queue and data directories (but nothing else under DIR needs it).
    chmod 755 "$dir" "$pf"
    local d=$dir
    while [ "$d" != / ]; do d=$(dirname "$d"); chmod o+x "$d" 2>/dev/null || true; done

    cat > "$pf/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $pf/queue
data_directory = $pf/data
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
# No DNS anywhere: this operator lives on loopback only.
disable_dns_lookups = yes
smtp_dns_support_level = disabled
lmtp_host_lookup = native
smtp_host_lookup = native
message_size_limit = 52428800
biff = no
# The MSSanté mailboxes it hosts, delivered into Dovecot by LMTP.
virtual_mailbox_domains = $DOMAINS
virtual_mailbox_maps = texthash:$pf/mailboxes
virtual_transport = lmtp:inet:127.0.0.1:$OPERATOR_LMTP_PORT
# TLS: server certificate from the test IGC-Sante PKI; clients must present
# a certificate from the same PKI (mutual authentication, as MSSante asks).
smtpd_tls_cert_file = $pki/server.pem
smtpd_tls_key_file = $pki/server.key
smtpd_tls_CAfile = $pki/ca.pem
smtpd_tls_security_level = encrypt
smtpd_tls_ask_ccert = yes
smtpd_tls_req_ccert = yes
smtpd_tls_received_header = yes
smtpd_tls_loglevel = 1
smtpd_tls_mandatory_protocols = >=TLSv1.2
smtpd_tls_protocols = >=TLSv1.2
smtpd_relay_restrictions = permit_tls_all_clientcerts, reject
smtpd_recipient_restrictions = check_recipient_access texthash:$pf/recipient_access, reject_unlisted_recipient
smtpd_helo_required = yes
CF
    printf '%s\n' $MAILBOXES | sed 's/$/ ok/' > "$pf/mailboxes"
    cat > "$pf/recipient_access" <<CF
rejet.permanent@medecin.test.mssante.fr 550 5.1.1 Boite aux lettres fermee (test de refus permanent)
rejet.temporaire@medecin.test.mssante.fr 451 4.3.0 Service temporairement indisponible (test)
CF
    cat > "$pf/master.cf" <<CF
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
    : > "$dv/users"
    local m
    for m in $MAILBOXES; do
        echo "$m:{PLAIN}$IMAP_PASSWORD::::::" >> "$dv/users"
    done
    cat > "$dv/dovecot.conf" <<CF
# Test operator's mail store, everything under DIR so that several
# instances can run side by side in tests. Dovecot never stores mail as
# root: mailboxes belong to Debian's \`mail\` user.
instance_name = facteur-operator-$OPERATOR_IMAP_PORT
base_dir = $dv/run
state_dir = $dv/state
log_path = $log/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
first_valid_uid = $(id -u mail)
mail_location = maildir:$dir/mail/%d/%n
mail_uid = mail
mail_gid = mail

ssl = required
ssl_cert = <$pki/server.pem
ssl_key = <$pki/server.key
ssl_ca = <$pki/ca.pem
ssl_min_protocol = TLSv1.2
ssl_verify_client_cert = yes
# The test PKI publishes no CRL.
ssl_require_crl = no
# The certificate is the identity: its CN is the mailbox address.
auth_ssl_require_client_cert = yes
auth_ssl_username_from_cert = yes
ssl_cert_username_field = commonName
auth_mechanisms = plain external
disable_plaintext_auth = yes

passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dv/users
}
userdb {
  driver = static
  args = uid=mail gid=mail home=$dir/mail/%d/%n
}
service imap-login {
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
}
service imap-login {
  chroot =
}
protocol lmtp {
  postmaster_address = postmaster@test.mssante.fr
}
CF
}

start_postfix() {
    load_ports
    # Postfix's own wrapper insists on the default configuration directory
    # for alternate instances; the master daemon itself takes -c.
    /usr/sbin/postfix -c "$pf" check >/dev/null 2>&1 || true
    /usr/sbin/postfix -c "$pf" set-permissions >/dev/null 2>&1 || true
    # Daemons must not inherit our stdout/stderr: a caller reading them
    # (a test harness) would wait for them to close forever.
    MAIL_CONFIG=$pf /usr/lib/postfix/sbin/master -c "$pf" -w </dev/null >>"$log/postfix-start.log" 2>&1
    wait_port "$OPERATOR_SMTP_PORT" 30
    wait_port "$OPERATOR_SMTPS_PORT" 30
}

stop_postfix() {
    load_ports
    local pid_file=$pf/queue/pid/master.pid
    if [ -s "$pid_file" ]; then
        local pid
        pid=$(tr -d ' ' < "$pid_file")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        fi
        rm -f "$pid_file"
    fi
    wait_closed "$OPERATOR_SMTP_PORT" 10 || true
    wait_closed "$OPERATOR_SMTPS_PORT" 10 || true
}

start_dovecot() {
    load_ports
    /usr/sbin/dovecot -c "$dv/dovecot.conf" </dev/null >>"$log/dovecot-start.log" 2>&1
    wait_port "$OPERATOR_IMAP_PORT" 30
    wait_port "$OPERATOR_LMTP_PORT" 30
}

stop_dovecot() {
    load_ports
    if [ -s "$dv/run/master.pid" ]; then
        /usr/sbin/dovecot -c "$dv/dovecot.conf" stop 2>/dev/null || true
        local pid
        pid=$(cat "$dv/run/master.pid" 2>/dev/null || true)
        for _ in $(seq 1 200); do
            [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
    fi
}

write_env() {
    load_ports
    cat > "$dir/operator.env" <<ENV
OPERATOR_DIR=$dir
OPERATOR_SMTP_HOST=127.0.0.1
OPERATOR_SMTP_PORT=$OPERATOR_SMTP_PORT
OPERATOR_SMTPS_PORT=$OPERATOR_SMTPS_PORT
OPERATOR_IMAP_HOST=127.0.0.1
OPERATOR_IMAP_PORT=$OPERATOR_IMAP_PORT
OPERATOR_LMTP_PORT=$OPERATOR_LMTP_PORT
OPERATOR_CA=$pki/ca.pem
OPERATOR_SERVER_NAME=localhost
OPERATOR_IMAP_PASSWORD=$IMAP_PASSWORD
CLIENT_CERT=$pki/client-chain.pem
CLIENT_KEY=$pki/client.key
CLIENT_P12=$pki/client.p12
CLIENT_P12_PASS_FILE=$pki/client.p12.pass
CLIENT_MAILBOX=cabinet.dupont@test.mssante.fr
PRACTITIONER_CERT=$pki/practitioner.pem
PRACTITIONER_KEY=$pki/practitioner.key
OUTSIDER_CA=$pki/outsider-ca.pem
OUTSIDER_CERT=$pki/outsider.pem
OUTSIDER_KEY=$pki/outsider.key
DEMO_TO=dr.martin@medecin.test.mssante.fr
MAIL_ROOT=$dir/mail
OPERATOR_PKI=$pki
ENV
}

case $cmd in
start)
    cat > "$dir/ports" <<P
OPERATOR_SMTP_PORT=${OPERATOR_SMTP_PORT:-10587}
OPERATOR_IMAP_PORT=${OPERATOR_IMAP_PORT:-10143}
OPERATOR_LMTP_PORT=${OPERATOR_LMTP_PORT:-10024}
OPERATOR_SMTPS_PORT=${OPERATOR_SMTPS_PORT:-10465}
P
    load_ports
    bash "$here/pki.sh" "$pki"
    chmod 644 "$pki"/*.pem
    configure_postfix
    configure_dovecot
    stop_postfix
    stop_dovecot
    start_dovecot
    start_postfix
    write_env
    echo "operator ready: smtp=127.0.0.1:$OPERATOR_SMTP_PORT imap=127.0.0.1:$OPERATOR_IMAP_PORT env=$dir/operator.env"
    ;;
stop)
    [ -f "$dir/ports" ] || exit 0
    stop_postfix
    stop_dovecot
    ;;
stop-smtp) stop_postfix ;;
start-smtp) start_postfix ;;
status)
    load_ports
    for p in "$OPERATOR_SMTP_PORT" "$OPERATOR_IMAP_PORT" "$OPERATOR_LMTP_PORT"; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p up"; else echo "$p down"; fi
    done
    ;;
*) echo "operator.sh: unknown command $cmd" >&2; exit 2 ;;
esac
