#!/usr/bin/env bash
# Generates a test PKI shaped like IGC-Santé into DIR (once; kept if present):
#   ca.pem/ca.key                 root "TEST AC IGC-SANTE" (the trust anchor)
#   server.pem/server.key         operator server certificate (localhost, 127.0.0.1)
#   client.pem/client.key         "Organisation" software certificate of an APP
#   client-chain.pem, client.p12  mailbox (CN = the mailbox address), + p12 password file
#   practitioner.pem/.key         a practitioner identity (RPPS-like id), for the card
#   outsider-ca.pem, outsider.pem/.key  another CA and a client it signed (must be refused)
#   mailbox-ADDRESS.pem/.key      one per test mailbox, to read it back over IMAP
set -euo pipefail
dir=${1:?usage: pki.sh DIR}
mkdir -p "$dir"
cd "$dir"
[ -s .complete ] && exit 0

days=3650
ossl() { openssl "$@" 2>/dev/null; }

ca() { # name subject
    ossl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$days" -keyout "$1.key" -out "$1.pem" -subj "$2" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
}

leaf() { # name subject ca extensions
    ossl req -new -newkey rsa:2048 -nodes -sha256 -keyout "$1.key" -out "$1.csr" -subj "$2"
    printf '%s\n' "$4" > "$1.ext"
    ossl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -days "$days" -sha256 \
        -extfile "$1.ext" -out "$1.pem"
    rm -f "$1.csr" "$1.ext"
}

ca ca "/C=FR/O=ASIP-SANTE TEST/OU=IGC-SANTE TEST/CN=TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"
leaf server "/C=FR/O=OPERATEUR TEST/OU=318751275100020/CN=smtp.operateur.test" ca \
"basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:smtp.operateur.test,DNS:imap.operateur.test"
leaf client "/C=FR/O=CABINET DUPONT TEST/OU=10000000001/CN=cabinet.dupont@test.mssante.fr" ca \
"basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
cat client.pem ca.pem > client-chain.pem
(umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > client.p12.pass)
ossl pkcs12 -export -inkey client.key -in client.pem -certfile ca.pem -name "cabinet.dupont" \
    -passout file:client.p12.pass -out client.p12
leaf practitioner "/C=FR/O=TEST/OU=899700000001/CN=899700000001/SN=DUPONT/GN=JEAN/title=Medecin" ca \
"basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
# One certificate per test mailbox, for reading mailboxes back in tests
# (Dovecot takes the user name from the certificate's CN).
for mailbox in cabinet.dupont@test.mssante.fr dr.martin@medecin.test.mssante.fr secretariat@hopital.test.mssante.fr; do
    leaf "mailbox-$mailbox" "/C=FR/O=TEST/CN=$mailbox" ca \
"basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
done
ca outsider-ca "/C=FR/O=NOT IGC-SANTE/CN=Outsider CA"
leaf outsider "/C=FR/O=OUTSIDER/CN=intrus@test.mssante.fr" outsider-ca \
"basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
chmod 600 ./*.key
echo ok > .complete
