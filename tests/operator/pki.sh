#!/usr/bin/env bash
# Generates a test PKI shaped like IGC-Santé into DIR, once: a later run
# with the same layout version finds DIR/.complete and does nothing, so the
# (slow) RSA key generation is paid once per directory.
#
# Hierarchy, as in the real IGC-Santé (two ranges, each a root and an
# issuing CA; names prefixed with TEST so they are never mistaken for the
# real ones):
#
#   TEST AC RACINE IGC-SANTE ELEMENTAIRE            root-elementaire.pem
#     TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS   ac-org.pem
#       operator server (localhost, 127.0.0.1)      server.pem
#       "Organisation" software certificate (APP)   client.pem, client.p12
#       one certificate per test mailbox            mailbox-ADDRESS.pem
#   TEST AC RACINE IGC-SANTE FORTE                  root-forte.pem
#     TEST AC IGC-SANTE FORTE PERSONNES             ac-per.pem
#       practitioner (CPS card authentication)      practitioner.pem
#   Outsider CA (trusted by nobody)                 outsider-ca.pem
#     a client certificate it signed                outsider.pem
#
# Files:
#   ca.pem            the two test roots: the trust anchors a client configures
#   ca-chain.pem      roots + issuing CAs, as operators load the IGC-Santé chain
#   NAME.pem          leaf certificate followed by its issuing CA, i.e. what
#                     the peer presents in TLS (tools reading one certificate
#                     get the leaf, which comes first)
#   NAME-leaf.pem     the leaf alone; NAME.key its RSA-2048 key (PKCS#8, clear)
#   client-chain.pem  same content as client.pem (name kept for clarity)
#   client.p12        key + leaf + issuing CA, AES-256-CBC/PBKDF2 (OpenSSL 3
#                     defaults, no -legacy), password in client.p12.pass
#   practitioner.der  the practitioner's leaf in DER, as a card stores it
set -euo pipefail
dir=${1:?usage: pki.sh DIR}
mkdir -p "$dir"
cd "$dir"

layout=3
[ "$(cat .complete 2>/dev/null)" = "$layout" ] && exit 0
# An older or half-written layout: start again from nothing.
rm -f ./*.pem ./*.key ./*.p12 ./*.pass ./*.der ./*.srl ./*.csr ./*.ext .complete

days=3650
err=$(mktemp)
trap 'rm -f "$err"' EXIT
# openssl is chatty on stderr even when it succeeds: show it only on failure.
ossl() {
    if ! openssl "$@" 2>"$err"; then
        cat "$err" >&2
        echo "pki.sh: openssl $1 failed" >&2
        return 1
    fi
}

ext_file() { printf '%s\n' "$@" > "$name.ext"; }

root() { # name subject
    ossl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$days" -keyout "$1.key" -out "$1.pem" -subj "$2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash"
}

# signed NAME SUBJECT ISSUER EXTENSION...: key + certificate NAME-leaf.pem
# signed by ISSUER, then NAME.pem = leaf + ISSUER (unless ISSUER is a root).
signed() {
    local name=$1 subject=$2 issuer=$3
    shift 3
    ossl req -new -newkey rsa:2048 -nodes -sha256 -keyout "$name.key" -out "$name.csr" -subj "$subject"
    ext_file "authorityKeyIdentifier=keyid" "subjectKeyIdentifier=hash" "$@"
    ossl x509 -req -in "$name.csr" -CA "$issuer.pem" -CAkey "$issuer.key" -CAcreateserial -days "$days" -sha256 \
        -extfile "$name.ext" -out "$name-leaf.pem"
    rm -f "$name.csr" "$name.ext"
}

intermediate() { # name subject root
    signed "$1" "$2" "$3" "basicConstraints=critical,CA:TRUE,pathlen:0" "keyUsage=critical,keyCertSign,cRLSign"
    mv "$1-leaf.pem" "$1.pem"
}

leaf() { # name subject issuer extension...
    local name=$1 issuer=$3
    signed "$@"
    cat "$name-leaf.pem" "$issuer.pem" > "$name.pem"
}

client_ext=("basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=clientAuth")

root root-elementaire "/C=FR/O=ASIP-SANTE TEST/OU=0002 187512751/OU=IGC-SANTE TEST ELEMENTAIRE/CN=TEST AC RACINE IGC-SANTE ELEMENTAIRE"
intermediate ac-org "/C=FR/O=ASIP-SANTE TEST/OU=0002 187512751/OU=IGC-SANTE TEST ELEMENTAIRE/CN=TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS" root-elementaire
root root-forte "/C=FR/O=ASIP-SANTE TEST/OU=0002 187512751/OU=IGC-SANTE TEST FORTE/CN=TEST AC RACINE IGC-SANTE FORTE"
intermediate ac-per "/C=FR/O=ASIP-SANTE TEST/OU=0002 187512751/OU=IGC-SANTE TEST FORTE/CN=TEST AC IGC-SANTE FORTE PERSONNES" root-forte
cat root-elementaire.pem root-forte.pem > ca.pem
cat root-elementaire.pem ac-org.pem root-forte.pem ac-per.pem > ca-chain.pem

leaf server "/C=FR/O=OPERATEUR TEST/OU=318751275100020/CN=smtp.operateur.test" ac-org \
    "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth,clientAuth" \
    "subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:smtp.operateur.test,DNS:imap.operateur.test"

# The APP mailbox's software certificate: OU carries the structure's id
# (FINESS-like), CN the mailbox address.
leaf client "/C=FR/O=CABINET DUPONT TEST/OU=10000000001/CN=cabinet.dupont@test.mssante.fr" ac-org "${client_ext[@]}"
cp client.pem client-chain.pem
(umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > client.p12.pass)
ossl pkcs12 -export -inkey client.key -in client-leaf.pem -certfile ac-org.pem -name "cabinet.dupont@test.mssante.fr" \
    -passout file:client.p12.pass -out client.p12

# A practitioner's card authentication certificate: national id 8 + RPPS.
leaf practitioner "/C=FR/O=CABINET DUPONT TEST/OU=10000000001/CN=899700000001/SN=DUPONT/GN=JEAN/title=Medecin" ac-per \
    "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" "extendedKeyUsage=clientAuth"
ossl x509 -in practitioner-leaf.pem -outform DER -out practitioner.der
# Another practitioner's card (a replacement doctor): the box must not
# switch to it without an administrator's consent.
leaf practitioner2 "/C=FR/O=CABINET DUPONT TEST/OU=10000000001/CN=899700000002/SN=MARTIN/GN=CLAIRE/title=Medecin" ac-per \
    "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" "extendedKeyUsage=clientAuth"
ossl x509 -in practitioner2-leaf.pem -outform DER -out practitioner2.der

# One certificate per test mailbox, for reading mailboxes back in tests:
# Dovecot takes the IMAP user name from the certificate's CN.
for mailbox in cabinet.dupont@test.mssante.fr dr.martin@medecin.test.mssante.fr secretariat@hopital.test.mssante.fr; do
    leaf "mailbox-$mailbox" "/C=FR/O=TEST/CN=$mailbox" ac-org "${client_ext[@]}"
done

# Same shape, wrong issuer: the operator must refuse it.
root outsider-ca "/C=FR/O=NOT IGC-SANTE/CN=Outsider CA"
leaf outsider "/C=FR/O=OUTSIDER/CN=intrus@test.mssante.fr" outsider-ca "${client_ext[@]}"
# A root is not presented with its leaf.
cp outsider-leaf.pem outsider.pem

rm -f ./*.srl
chmod 600 ./*.key client.p12 client.p12.pass
chmod 644 ./*.pem practitioner.der practitioner2.der
echo "$layout" > .complete
