"""The test MSSanté operator behaves like one: mutual TLS on submission and
IMAP, only IGC-Santé-like client certificates, fixed refusals for the test
recipients, and an SMTP side that can be taken down and brought back.

Other tests rely on these behaviours; this module checks them with the
standard library's smtplib, ssl and imaplib only (and the openssl CLI for
the PKI files). Run with: /usr/bin/python3 -m pytest tests/operator
"""

import email
import email.policy
import imaplib
import re
import smtplib
import socket
import ssl
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from operator_fixture import Operator, OperatorError, read_env, send

REQUIRED_KEYS = [
    "OPERATOR_DIR", "OPERATOR_SMTP_HOST", "OPERATOR_SMTP_PORT", "OPERATOR_SMTPS_PORT", "OPERATOR_IMAP_HOST",
    "OPERATOR_IMAP_PORT", "OPERATOR_LMTP_PORT", "OPERATOR_CA", "OPERATOR_CA_CHAIN", "OPERATOR_SERVER_NAME",
    "CLIENT_CERT", "CLIENT_KEY", "CLIENT_P12", "CLIENT_P12_PASS_FILE", "CLIENT_MAILBOX", "PRACTITIONER_CERT",
    "PRACTITIONER_KEY", "PRACTITIONER_CERT_DER", "OUTSIDER_CERT", "OUTSIDER_KEY", "OUTSIDER_CA",
    "OPERATOR_IMAP_PASSWORD", "DEMO_TO", "REJECT_PERMANENT_RCPT", "REJECT_TEMPORARY_RCPT", "UNKNOWN_RCPT",
]
FILE_KEYS = [k for k in REQUIRED_KEYS if k.endswith(("_CA", "_CHAIN", "_CERT", "_KEY", "_P12", "_FILE", "_DER"))]


@pytest.fixture(scope="module")
def operator(tmp_path_factory):
    op = Operator().start(tmp_path_factory.mktemp("operator"))
    yield op
    op.stop()


def new_message(op, subject, to=None, body="Compte rendu de test.\r\n"):
    to = to or op.env["DEMO_TO"]
    return (
        f"From: {op.env['CLIENT_MAILBOX']}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{uuid.uuid4()}@cabinet.test>\r\n\r\n{body}"
    ).encode()


def unique(label):
    return f"{label} {uuid.uuid4().hex[:12]}"


def openssl(*args, check=True):
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=check)


def port_refuses(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True


# -- the environment file and the PKI -----------------------------------------


def test_env_file_lists_everything_and_sources_in_a_shell(operator):
    env = read_env(Path(operator.env["OPERATOR_DIR"]) / "operator.env")
    missing = [k for k in REQUIRED_KEYS if k not in env]
    assert not missing
    assert all(" " not in v and '"' not in v for v in env.values())
    for key in FILE_KEYS:
        assert Path(env[key]).is_file(), key
    assert env["OPERATOR_SERVER_NAME"] == "localhost"
    assert env["CLIENT_MAILBOX"] == "cabinet.dupont@test.mssante.fr"
    assert env["DEMO_TO"] == "dr.martin@medecin.test.mssante.fr"
    shell = subprocess.run(
        ["bash", "-c", '. "$1" && echo "$OPERATOR_SMTP_PORT $CLIENT_P12"', "-", env["OPERATOR_DIR"] + "/operator.env"],
        capture_output=True, text=True, check=True,
    )
    assert shell.stdout.split() == [env["OPERATOR_SMTP_PORT"], env["CLIENT_P12"]]


def test_pki_is_shaped_like_igc_sante(operator):
    env = operator.env
    # Organisation (APP) certificate: structure id in OU, mailbox in CN,
    # client authentication only, issued under the test root by an issuing CA.
    subject = openssl("x509", "-in", env["CLIENT_CERT"], "-noout", "-subject", "-issuer", "-ext", "extendedKeyUsage").stdout
    assert "O = CABINET DUPONT TEST, OU = 10000000001, CN = cabinet.dupont@test.mssante.fr" in subject
    assert "CN = TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS" in subject
    assert "TLS Web Client Authentication" in subject and "Server" not in subject
    for cert in ("CLIENT_CERT", "PRACTITIONER_CERT"):
        out = openssl("verify", "-CAfile", env["OPERATOR_CA"], "-untrusted", env[cert], env[cert], check=False)
        assert out.returncode == 0, out.stdout + out.stderr
    out = openssl("verify", "-CAfile", env["OPERATOR_CA_CHAIN"], env["OUTSIDER_CERT"], check=False)
    assert out.returncode != 0
    # The trust anchors are roots only; the chain file adds the issuing CAs.
    assert open(env["OPERATOR_CA"]).read().count("BEGIN CERTIFICATE") == 2
    assert open(env["OPERATOR_CA_CHAIN"]).read().count("BEGIN CERTIFICATE") == 4

    # PKCS#12 with modern encryption, readable without -legacy.
    info = openssl("pkcs12", "-in", env["CLIENT_P12"], "-passin", f"file:{env['CLIENT_P12_PASS_FILE']}", "-info", "-noout").stderr
    assert "PBES2, PBKDF2, AES-256-CBC" in info and "RC2" not in info and "3DES" not in info
    dump = openssl("pkcs12", "-in", env["CLIENT_P12"], "-passin", f"file:{env['CLIENT_P12_PASS_FILE']}", "-nodes").stdout
    assert dump.count("BEGIN CERTIFICATE") == 2 and "BEGIN PRIVATE KEY" in dump

    # Practitioner (card) identity: RPPS-like id, RSA 2048, DER copy of the leaf.
    text = openssl("x509", "-in", env["PRACTITIONER_CERT"], "-noout", "-text").stdout
    assert "OU = 10000000001, CN = 899700000001" in text and "Public-Key: (2048 bit)" in text
    assert "TEST AC IGC-SANTE FORTE PERSONNES" in text
    der = openssl("x509", "-in", env["PRACTITIONER_CERT_DER"], "-inform", "DER", "-noout", "-fingerprint").stdout
    assert der == openssl("x509", "-in", env["PRACTITIONER_CERT"], "-noout", "-fingerprint").stdout

    # The operator's server certificate answers to every name tests use.
    san = openssl("x509", "-in", Path(env["OPERATOR_PKI"]) / "server.pem", "-noout", "-ext", "subjectAltName").stdout
    for name in ("DNS:localhost", "IP Address:127.0.0.1", "DNS:smtp.operateur.test", "DNS:imap.operateur.test"):
        assert name in san


# -- submission ----------------------------------------------------------------


def test_org_certificate_sends_over_tls12_and_mail_reaches_imap(operator):
    subject = unique("Compte rendu TLS 1.2")
    ctx = operator.ssl_context("client", tls12_only=True, ciphers="ECDHE-RSA-AES128-GCM-SHA256")
    with operator.smtp(context=ctx) as client:
        assert client.sock.version() == "TLSv1.2"
        assert client.sock.cipher()[0] == "ECDHE-RSA-AES128-GCM-SHA256"
        assert client.esmtp_features["size"] == operator.env["OPERATOR_MAX_SIZE"] == "52428800"
        assert "auth" not in client.esmtp_features  # the certificate is the authentication
        refused = client.sendmail(operator.env["CLIENT_MAILBOX"], [operator.env["DEMO_TO"]], new_message(operator, subject))
    assert refused == {}

    (raw,) = operator.find(operator.env["DEMO_TO"], subject.encode())
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    received = re.sub(r"\s+", " ", " ".join(msg.get_all("Received")))
    assert 'Client CN "cabinet.dupont@test.mssante.fr"' in received
    assert 'Issuer "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS" (verified OK)' in received
    assert "TLSv1.2 with cipher ECDHE-RSA-AES128-GCM-SHA256" in received
    assert msg["Subject"] == subject


def test_implicit_tls_port_also_delivers(operator):
    subject = unique("TLS implicite")
    send(operator, [operator.env["DEMO_TO"]], new_message(operator, subject), implicit_tls=True)
    operator.find(operator.env["DEMO_TO"], subject.encode())


def test_card_certificate_presented_alone_is_verified(operator):
    # A CPS card holds its leaf only: the operator knows the issuing CAs.
    pki = Path(operator.env["OPERATOR_PKI"])
    with operator.smtp(identity=(str(pki / "practitioner-leaf.pem"), operator.env["PRACTITIONER_KEY"])) as client:
        assert client.mail(operator.env["CLIENT_MAILBOX"])[0] == 250
        assert client.rcpt(operator.env["DEMO_TO"])[0] == 250
        client.rset()


@pytest.mark.parametrize(
    "identity, reason",
    [(None, "No client certificate presented"), ("outsider", "Client certificate not trusted")],
)
@pytest.mark.parametrize("implicit_tls", [False, True])
def test_client_without_a_trusted_certificate_cannot_send(operator, identity, reason, implicit_tls):
    with pytest.raises((smtplib.SMTPResponseException, smtplib.SMTPServerDisconnected)) as refused:
        with operator.smtp(identity=identity, implicit_tls=implicit_tls) as client:
            client.sendmail(operator.env["CLIENT_MAILBOX"], [operator.env["DEMO_TO"]], b"Subject: x\r\n\r\nx\r\n")
    if isinstance(refused.value, smtplib.SMTPResponseException):
        assert refused.value.smtp_code == 421
        assert reason in refused.value.smtp_error.decode()
    operator.wait_log(reason)


def test_plaintext_session_must_start_tls_first(operator):
    with smtplib.SMTP(operator.env["OPERATOR_SMTP_HOST"], int(operator.env["OPERATOR_SMTP_PORT"]), timeout=30) as client:
        client.ehlo("client.test")
        assert client.has_extn("starttls")
        code, reply = client.mail(operator.env["CLIENT_MAILBOX"])
    assert code == 530 and b"STARTTLS" in reply


def test_recipient_refusals(operator):
    env = operator.env
    with operator.smtp() as client:
        assert client.mail(env["CLIENT_MAILBOX"])[0] == 250
        code, reply = client.rcpt(env["UNKNOWN_RCPT"])
        assert code == 550 and reply.startswith(b"5.1.1")
        code, reply = client.rcpt(env["REJECT_PERMANENT_RCPT"])
        assert 500 <= code < 600, reply
        code, reply = client.rcpt(env["REJECT_TEMPORARY_RCPT"])
        assert code == 451, reply
        code, reply = client.rcpt("quelquun@exemple.org")  # outside the hosted domains
        assert code == 554 and b"Relay access denied" in reply
        for mailbox in env["OPERATOR_MAILBOXES"].split(","):
            assert client.rcpt(mailbox)[0] == 250
        client.rset()


@pytest.mark.parametrize("tag_key, code", [("REJECT_DATA_PERMANENT_TAG", 550), ("REJECT_DATA_TEMPORARY_TAG", 451)])
def test_refusal_after_data(operator, tag_key, code):
    subject = f"{operator.env[tag_key]} {unique('refus')}"
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(operator, [operator.env["DEMO_TO"]], new_message(operator, subject))
    assert refused.value.smtp_code == code


def test_size_limit_announced_and_enforced(operator):
    with operator.smtp() as client:
        code, reply = client.mail(operator.env["CLIENT_MAILBOX"], ["SIZE=60000000"])
    assert code == 552, reply


# -- IMAP ------------------------------------------------------------------------


def test_imap_requires_a_trusted_certificate_and_takes_the_user_from_it(operator):
    env = operator.env
    mailbox = env["DEMO_TO"]
    # PLAIN with the mailbox's certificate and the test password.
    client = operator.imap(mailbox)
    assert client.select("INBOX", readonly=True)[0] == "OK"
    client.logout()
    # EXTERNAL: the organisation certificate alone logs in as its CN.
    client = operator.imap(mailbox, mechanism="EXTERNAL", identity="client")
    client.logout()
    operator.wait_log(f"user=<{env['CLIENT_MAILBOX']}>, method=EXTERNAL", "dovecot")
    # The certificate wins over the name given: no reading others' mail.
    client = operator.imap(mailbox, identity="client")
    client.logout()
    operator.wait_log(f"user=<{mailbox}>, method=PLAIN", "dovecot")
    assert re.search(r"Login: user=<cabinet\.dupont@test\.mssante\.fr>, method=PLAIN", operator.log("dovecot"))
    # No certificate, or an untrusted one.
    for identity, mechanism in ((None, "PLAIN"), ("outsider", "PLAIN"), ("outsider", "EXTERNAL")):
        with pytest.raises(imaplib.IMAP4.error):
            operator.imap(mailbox, mechanism=mechanism, identity=identity)
    # A practitioner's card names a national id, which the operator maps to
    # the practice's mailbox.
    client = operator.imap(mailbox, mechanism="EXTERNAL", identity="practitioner")
    client.logout()
    operator.wait_log("user=<cabinet.dupont@test.mssante.fr>, method=EXTERNAL", "dovecot")


def test_imap_login_needs_tls_and_a_certificate(operator):
    host, port = operator.env["OPERATOR_IMAP_HOST"], int(operator.env["OPERATOR_IMAP_PORT"])
    # Without TLS (Dovecot counts loopback as secure and still advertises
    # AUTH=PLAIN, but no TLS means no certificate, so no login).
    client = imaplib.IMAP4(host, port)
    assert "STARTTLS" in client.capabilities
    with pytest.raises(imaplib.IMAP4.error, match="certificate"):
        client.login(operator.env["DEMO_TO"], operator.env["OPERATOR_IMAP_PASSWORD"])
    client.shutdown()
    # TLS without a certificate.
    client = imaplib.IMAP4(host, port)
    client.starttls(ssl_context=operator.ssl_context(identity=None))
    with pytest.raises(imaplib.IMAP4.error, match="certificate"):
        client.login(operator.env["DEMO_TO"], operator.env["OPERATOR_IMAP_PASSWORD"])
    client.shutdown()


def test_imap_tls12_with_mssante_suite(operator):
    client = imaplib.IMAP4(operator.env["OPERATOR_IMAP_HOST"], int(operator.env["OPERATOR_IMAP_PORT"]))
    client.starttls(ssl_context=operator.ssl_context("client", tls12_only=True, ciphers="ECDHE-RSA-AES256-GCM-SHA384"))
    assert client.sock.cipher()[:2] == ("ECDHE-RSA-AES256-GCM-SHA384", "TLSv1.2")
    client.authenticate("EXTERNAL", lambda _: b"")
    client.logout()


def test_clear_and_wait_for_messages(operator):
    mailbox = "secretariat@hopital.test.mssante.fr"
    operator.clear(mailbox)
    assert operator.fetch_all(mailbox) == []
    for i in range(3):
        send(operator, [mailbox], new_message(operator, unique(f"lot {i}"), to=mailbox))
    messages = operator.wait_for_messages(mailbox, 3, timeout=30)
    assert len(messages) == 3 and all(m.startswith(b"Return-Path: ") for m in messages)
    with pytest.raises(TimeoutError):
        operator.wait_for_messages(mailbox, 4, timeout=0.5)
    operator.clear(mailbox)
    assert operator.fetch_all(mailbox) == []


# -- operator down and back --------------------------------------------------------


def test_stop_smtp_makes_the_operator_unreachable_until_start_smtp(operator):
    smtp_port = int(operator.env["OPERATOR_SMTP_PORT"])
    operator.stop_smtp()
    try:
        assert port_refuses(smtp_port)
        assert port_refuses(int(operator.env["OPERATOR_SMTPS_PORT"]))
        assert not operator.is_up()
        # The mail store stays reachable meanwhile.
        operator.fetch_all(operator.env["DEMO_TO"])
    finally:
        operator.start_smtp()
    assert operator.is_up()
    subject = unique("retour operateur")
    send(operator, [operator.env["DEMO_TO"]], new_message(operator, subject))
    operator.find(operator.env["DEMO_TO"], subject.encode())


def test_restart_reuses_pki_ports_and_mail(operator):
    pki = Path(operator.env["OPERATOR_PKI"])
    before = (pki / "client.p12").read_bytes(), dict(operator.env)
    count = len(operator.fetch_all(operator.env["DEMO_TO"]))
    started = time.monotonic()
    operator.start(operator.dir, *(int(operator.env[k]) for k in ("OPERATOR_SMTP_PORT", "OPERATOR_IMAP_PORT", "OPERATOR_LMTP_PORT", "OPERATOR_SMTPS_PORT")))
    elapsed = time.monotonic() - started
    assert (pki / "client.p12").read_bytes() == before[0]
    assert operator.env == before[1]
    assert len(operator.fetch_all(operator.env["DEMO_TO"])) == count
    assert elapsed < 15, f"restart took {elapsed:.1f}s"


def listening_sockets(root_pids):
    """(address, port) of every TCP socket in LISTEN state held by the given
    processes or their descendants, read from /proc (IPv4 and IPv6)."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    pids, todo = set(), list(root_pids)
    while todo:
        pid = todo.pop()
        if pid not in pids:
            pids.add(pid)
            todo.extend(children.get(pid, []))
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = str(fd.readlink())
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:
                addr, port = fields[1].split(":")
                if len(addr) == 8:
                    addr = socket.inet_ntoa(bytes.fromhex(addr)[::-1])
                found.add((addr, int(port, 16)))
    return found


def test_listens_on_loopback_and_its_own_ports_only(operator):
    pids = [
        int((Path(operator.dir) / "spool/postfix/pid/master.pid").read_text().strip()),
        int((Path(operator.dir) / "dovecot/run/master.pid").read_text().strip()),
    ]
    expected = {
        ("127.0.0.1", int(operator.env[k]))
        for k in ("OPERATOR_SMTP_PORT", "OPERATOR_SMTPS_PORT", "OPERATOR_IMAP_PORT", "OPERATOR_LMTP_PORT")
    }
    assert listening_sockets(pids) == expected


# -- a second, strict operator alongside ----------------------------------------------


def test_second_operator_with_mssante_tls_policy(operator, tmp_path):
    strict = Operator().start(tmp_path / "strict", tls_policy="mssante")
    try:
        assert strict.env["OPERATOR_SMTP_PORT"] != operator.env["OPERATOR_SMTP_PORT"]
        assert operator.is_up() and strict.is_up()

        # TLS 1.3 is refused, on submission and on IMAP.
        tls13 = strict.ssl_context("client")
        tls13.minimum_version = ssl.TLSVersion.TLSv1_3
        with pytest.raises(ssl.SSLError):
            strict.smtp(context=tls13)
        imap = imaplib.IMAP4(strict.env["OPERATOR_IMAP_HOST"], int(strict.env["OPERATOR_IMAP_PORT"]))
        with pytest.raises((ssl.SSLError, OSError)):
            imap.starttls(ssl_context=tls13)
        # A TLS 1.2 suite outside the four of the MSSanté rules is refused.
        with pytest.raises(ssl.SSLError):
            strict.smtp(context=strict.ssl_context("client", ciphers="ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-SHA"))
        # A client held to the rules gets through; its mail lands in this
        # operator's store only.
        subject = unique("operateur strict")
        ctx = strict.ssl_context("client", tls12_only=True, ciphers="ECDHE-RSA-AES256-GCM-SHA384")
        with strict.smtp(context=ctx) as client:
            assert client.sock.cipher()[:2] == ("ECDHE-RSA-AES256-GCM-SHA384", "TLSv1.2")
            client.sendmail(strict.env["CLIENT_MAILBOX"], [strict.env["DEMO_TO"]], new_message(strict, subject))
        strict.find(strict.env["DEMO_TO"], subject.encode())
        assert not [m for m in operator.fetch_all(operator.env["DEMO_TO"]) if subject.encode() in m]
        # The two PKIs are distinct: one operator's client is an outsider to the other.
        with pytest.raises(smtplib.SMTPResponseException):
            operator.smtp(identity=(strict.env["CLIENT_CERT"], strict.env["CLIENT_KEY"]))
    finally:
        strict.stop()
    for key in ("OPERATOR_SMTP_PORT", "OPERATOR_SMTPS_PORT", "OPERATOR_IMAP_PORT", "OPERATOR_LMTP_PORT"):
        assert port_refuses(int(strict.env[key])), key
    assert not strict.is_up()
    assert operator.is_up()


def test_start_refuses_a_port_in_use(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(OperatorError, match=f"port {port} is already in use"):
            Operator().start(tmp_path / "busy", smtp_port=port)
