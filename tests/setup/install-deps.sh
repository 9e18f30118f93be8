#!/usr/bin/env bash
# Installs the Debian packages the demo, the tests and the benchmark need.
# Idempotent: when everything is there it only asks dpkg and returns at once.
#
#   postfix, dovecot-imapd, dovecot-lmtpd   the test MSSanté operator (tests/operator); its oauth2
#                                             passdb (XOAUTH2, OAUTHBEARER) is in dovecot-core
#   swaks, libnet-ssleay-perl,              a practice's mail software, in e2e tests
#     libio-socket-ssl-perl                   (swaks needs both for STARTTLS)
#   openssl                                 the test PKI
#   python3, python3-pytest                 the test runner (/usr/bin/python3)
#   sqlite3                                 inspecting Facteur's queue database
#   procps                                  pgrep/ps for process checks
#   stunnel4, dnsmasq-base, bc              benchmark upstream, DNS SRV tests, figures
#   ca-certificates                         (openssl's default paths exist)
#   pcscd, vsmartcard-vpcd, pcsc-tools      the card reader stack with a virtual reader
#   libpcsclite-dev, pkg-config             building the PC/SC client (pcsc crate)
#   netcat-openbsd                          talking to the card simulator in the demo
#   cups-ipp-utils, dbus-daemon             a real IPP printer (ippeveprinter) for the paper tests,
#                                             and the private D-Bus it needs to start
#   poppler-utils, qpdf                     reading, rendering and encrypting PDFs in the paper tests
#   rauc, rauc-service, squashfs-tools      the update tests: a real RAUC service on a private bus, and
#                                             building signed test bundles (mksquashfs)
#   libxml2-utils                           xmllint, validating XDM metadata against the ebRIM schemas
#   chromium, nodejs, npm                   the web admin's browser tests (Playwright drives Debian's Chromium);
#                                             nodejs also runs the test Pro Santé Connect (tests/psc, oidc-provider,
#                                             which needs Node.js 20.18 or later)
#   python3-pip                             oelint-adv (below), for the Yocto layer's lint test
#
# Python packages that Debian does not have, pinned, from PyPI for
# /usr/bin/python3 (the interpreter the tests run with):
#   oelint-adv (+ oelint-parser, oelint-data)  lint of yocto-layer/meta-facteur (tests/e2e/test_yocto_layer.py)
set -euo pipefail

pip_packages=(oelint-adv==9.11.2 oelint-parser==8.13.2 oelint-data==1.5.26)

# Installs the pinned Python packages when a pin is missing or differs.
# Debian marks its Python as externally managed (PEP 668); these packages
# are not in Debian, hence --break-system-packages.
install_pip_packages() {
    local missing_pip=()
    local spec name version have
    for spec in "${pip_packages[@]}"; do
        name=${spec%%==*}
        version=${spec##*==}
        have=$(/usr/bin/python3 -c "import importlib.metadata as m; print(m.version('$name'))" 2>/dev/null || true)
        [ "$have" = "$version" ] || missing_pip+=("$spec")
    done
    [ ${#missing_pip[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-deps: missing Python packages (${missing_pip[*]}); run as root" >&2
        return 1
    fi
    echo "install-deps: installing ${missing_pip[*]}" >&2
    /usr/bin/python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
        --break-system-packages "${missing_pip[@]}"
}

packages=(postfix dovecot-imapd dovecot-lmtpd swaks libnet-ssleay-perl libio-socket-ssl-perl openssl python3 python3-pytest sqlite3 procps
    stunnel4 dnsmasq-base bc ca-certificates pcscd vsmartcard-vpcd pcsc-tools libpcsclite-dev pkg-config netcat-openbsd
    cups-ipp-utils dbus-daemon poppler-utils qpdf libxml2-utils rauc rauc-service squashfs-tools chromium nodejs npm python3-pip)

# One dpkg-query for all (fast enough to run before every test run): a
# package is present when its status reads "ii".
installed=" $(dpkg-query -W -f='${db:Status-Abbrev}${Package} ' "${packages[@]}" 2>/dev/null | grep -o 'ii *[^ ]*' | awk '{print $2}' | tr '\n' ' ' || true) "
missing=()
for p in "${packages[@]}"; do
    [[ $installed == *" $p "* ]] && continue
    # NodeSource's nodejs package ships npm itself and conflicts with
    # Debian's npm package: a working npm command is enough.
    [ "$p" = npm ] && command -v npm >/dev/null 2>&1 && continue
    missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    install_pip_packages
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages (${missing[*]}); run as root" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive

# The tests run their own Postfix and Dovecot under temporary directories.
# Postfix is installed unconfigured (no system main.cf, so no system
# instance can start), and no package may start its service while being
# installed: a policy-rc.d answering 101 ("action forbidden") is what
# invoke-rc.d and deb-systemd-invoke consult.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
policy=/usr/sbin/policy-rc.d
created_policy=no
apt_log=$(mktemp)
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    [ "$created_policy" = yes ] && rm -f "$policy"
    rm -f "$apt_log"
}
trap cleanup EXIT
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# Temporary, from the test dependency installer.\nexit 101\n' > "$policy"
    chmod +x "$policy"
    created_policy=yes
fi

if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$apt_log" 2>&1; then
    tail -n 30 "$apt_log" >&2
    echo "install-deps: apt-get failed" >&2
    exit 1
fi

# Should a service manager have started the system instances anyway, stop
# them (they would hold ports 25, 143, 993) and keep them from coming back
# at boot. Only right after installing: an existing setup is left alone.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    for svc in postfix dovecot stunnel4 pcscd pcscd.socket; do
        systemctl stop "$svc" >/dev/null 2>&1 || true
        systemctl disable "$svc" >/dev/null 2>&1 || true
    done
fi
if [ -s /var/spool/postfix/pid/master.pid ] && kill -0 "$(tr -d ' ' < /var/spool/postfix/pid/master.pid)" 2>/dev/null; then
    /usr/sbin/postfix stop >/dev/null 2>&1 || true
fi
if [ -s /run/dovecot/master.pid ] && kill -0 "$(cat /run/dovecot/master.pid)" 2>/dev/null; then
    /usr/sbin/dovecot stop >/dev/null 2>&1 || true
fi
install_pip_packages
exit 0
