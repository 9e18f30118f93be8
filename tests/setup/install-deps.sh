#!/usr/bin/env bash
# Installs the Debian packages the demo and the tests need, once. A second
# run only checks (dpkg -s) and returns at once.
set -euo pipefail

packages=(postfix dovecot-imapd dovecot-lmtpd swaks openssl python3 python3-pytest sqlite3 procps stunnel4 dnsmasq-base ca-certificates)

missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages (${missing[*]}); run as root" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# The tests run their own Postfix and Dovecot under temporary directories:
# install Postfix unconfigured, and keep the packages' system services from
# starting (and from holding ports 25/143/993).
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
policy=/usr/sbin/policy-rc.d
created_policy=no
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    created_policy=yes
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
[ "$created_policy" = yes ] && rm -f "$policy"
# If a service manager started them anyway, stop the system instances.
for svc in postfix dovecot stunnel4; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
        systemctl stop "$svc" || true
        systemctl disable "$svc" >/dev/null 2>&1 || true
    fi
done
exit 0
