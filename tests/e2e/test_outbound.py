"""Outbound bridge end to end: a real client sends through Facteur, the
real test operator (Postfix + Dovecot, mutual TLS) receives it."""

import email
import email.policy
import smtplib
import socket
import ssl
import subprocess
import time
import uuid
from email.message import EmailMessage

from facteur_harness import free_port

import pytest

DEMO_TO = "dr.martin@medecin.test.mssante.fr"


def unique_subject(tag: str) -> str:
    return f"{tag} {uuid.uuid4().hex[:12]}"


def find(operator, mailbox: str, needle: bytes, timeout: float = 30.0) -> list:
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = [m for m in operator.fetch_all(mailbox) if needle in m]
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"{needle!r} never reached {mailbox}")


def body_of(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in raw else raw.split(b"\n\n", 1)[1]


def test_plain_message_delivered_with_identity_and_mss_headers(facteur, operator):
    subject = unique_subject("Compte rendu")
    msg = EmailMessage()
    msg["From"] = operator.env["CLIENT_MAILBOX"]
    msg["To"] = DEMO_TO
    msg["Subject"] = subject
    msg.set_content("Bonjour confrère,\n\nVoici le compte rendu.\n")
    with facteur.smtp() as client:
        refused = client.send_message(msg)
    assert refused == {}
    (raw,) = find(operator, DEMO_TO, subject.encode())
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["X-MSS-NIL"] == "FACTEUR-TEST"
    assert parsed["Message-ID"]
    assert parsed.get_content().replace("\r\n", "\n") == "Bonjour confrère,\n\nVoici le compte rendu.\n"
    received = " ".join(parsed.get_all("Received"))
    # The operator saw the organisation certificate, verified.
    assert "CN=cabinet.dupont@test.mssante.fr" in received.replace('"', "") or "cabinet.dupont@test.mssante.fr" in received
    assert "verified OK" in received
    assert "by facteur.test (Facteur) with ESMTPSA" in received


def test_attachment_arrives_byte_for_byte(facteur, operator):
    payload = bytes(range(256)) * 4096  # 1 MiB of every byte value
    subject = unique_subject("Pièce jointe")
    msg = EmailMessage()
    msg["From"] = operator.env["CLIENT_MAILBOX"]
    msg["To"] = DEMO_TO
    msg["Subject"] = subject
    msg.set_content("Ci-joint le document.")
    msg.add_attachment(payload, maintype="application", subtype="pdf", filename="compte-rendu.pdf")
    sent = msg.as_bytes(policy=email.policy.SMTP)
    with facteur.smtp() as client:
        client.sendmail(operator.env["CLIENT_MAILBOX"], [DEMO_TO], sent)
    (raw,) = find(operator, DEMO_TO, subject.encode("utf-8") if subject.isascii() else b"compte-rendu.pdf")
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    (attachment,) = list(parsed.iter_attachments())
    assert attachment.get_filename() == "compte-rendu.pdf"
    assert attachment.get_content() == payload
    # The client's message is the tail of what the operator stored, unchanged.
    assert raw.endswith(body_of(sent)) or raw.replace(b"\r\n", b"\n").endswith(body_of(sent).replace(b"\r\n", b"\n"))


def test_swaks_as_practice_software(facteur, operator):
    subject = unique_subject("swaks")
    out = subprocess.run(
        [
            "swaks", "--server", f"127.0.0.1:{facteur.port}", "--tls",
            "--auth", "PLAIN", "--auth-user", facteur.USER, "--auth-password", facteur.PASSWORD,
            "--from", operator.env["CLIENT_MAILBOX"], "--to", DEMO_TO,
            "--header", f"Subject: {subject}", "--body", "Envoyé par un logiciel métier.",
        ],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "queued as" in out.stdout
    find(operator, DEMO_TO, subject.encode())


def test_non_mssante_recipient_refused_at_rcpt(facteur):
    with facteur.smtp() as client:
        client.mail("cabinet.dupont@test.mssante.fr")
        code, text = client.rcpt("patient@gmail.com")
        assert code == 550
        assert b"MSSante trust space" in text
        code, _ = client.rcpt(DEMO_TO)
        assert code == 250


def test_oversize_refused(facteur_factory, operator):
    f = facteur_factory(max_message_size=200_000).start()
    with f.smtp() as client:
        ehlo = client.esmtp_features
        assert ehlo["size"] == "200000"
        # Declared size too big: refused at MAIL.
        code, _ = client.mail("cabinet.dupont@test.mssante.fr", ["SIZE=300000"])
        assert code == 552
        client.rset()
        # Undeclared but too big: refused after DATA, nothing queued.
        assert client.mail("cabinet.dupont@test.mssante.fr")[0] == 250
        assert client.rcpt(DEMO_TO)[0] == 250
        code, _ = client.data(b"Subject: big\r\n\r\n" + b"x" * 300_000)
        assert code == 552
        # The session is still usable afterwards.
        assert client.noop()[0] == 250
    assert f.queue_list() == []


def test_wrong_password_and_auth_rules(facteur):
    with facteur.smtp(login=False) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as err:
            client.login(facteur.USER, "wrong password")
        assert err.value.smtp_code == 535
    # No AUTH before TLS, and no mail without AUTH.
    with smtplib.SMTP("127.0.0.1", facteur.port, timeout=10) as client:
        client.ehlo("x")
        assert "auth" not in client.esmtp_features
        assert "starttls" in client.esmtp_features
        code, _ = client.docmd("AUTH", "PLAIN AHNlY3JldGFyaWF0AHg=")
        assert code == 538
        code, _ = client.mail("cabinet.dupont@test.mssante.fr")
        assert code == 530


def test_operator_down_then_back(facteur, operator):
    operator.stop_smtp()
    try:
        subject = unique_subject("Panne opérateur")
        with facteur.smtp() as client:
            client.sendmail(operator.env["CLIENT_MAILBOX"], [DEMO_TO], f"Subject: {subject}\r\n\r\nattente\r\n".encode())
        entries = facteur.wait_queue(lambda e: any(x["attempts"] >= 1 and x["status"] == "pending" for x in e), timeout=30)
        assert any("reach" in (x["last_reply"] or "") or "refused" in (x["last_reply"] or "") for x in entries)
    finally:
        operator.start_smtp()
    find(operator, DEMO_TO, subject.encode(), timeout=60)
    facteur.wait_queue(lambda e: all(x["status"] == "delivered" for x in e), timeout=30)


def test_permanent_refusal_produces_dsn(facteur, operator):
    subject = unique_subject("Refus")
    with facteur.smtp() as client:
        client.sendmail(
            operator.env["CLIENT_MAILBOX"],
            ["rejet.permanent@medecin.test.mssante.fr", DEMO_TO],
            f"Subject: {subject}\r\n\r\ncorps confidentiel\r\n".encode(),
        )
    find(operator, DEMO_TO, subject.encode())
    entries = facteur.wait_queue(lambda e: {x["status"] for x in e} == {"delivered", "failed"}, timeout=30)
    failed = [x for x in entries if x["status"] == "failed"]
    assert failed[0]["recipient"] == "rejet.permanent@medecin.test.mssante.fr"
    deadline = time.time() + 10
    while not facteur.reports() and time.time() < deadline:
        time.sleep(0.2)
    (report,) = facteur.reports()
    parsed = email.message_from_bytes(report, policy=email.policy.default)
    assert parsed.get_content_type() == "multipart/report"
    assert parsed.get_param("report-type") == "delivery-status"
    text = report.decode("utf-8", "replace")
    assert "Final-Recipient: rfc822; rejet.permanent@medecin.test.mssante.fr" in text
    assert "Action: failed" in text
    assert "Status: 5." in text
    assert subject in text  # original headers are included
    assert "corps confidentiel" not in text  # the body is not


def test_temporary_refusal_is_retried_not_reported(facteur, operator):
    with facteur.smtp() as client:
        client.sendmail(operator.env["CLIENT_MAILBOX"], ["rejet.temporaire@medecin.test.mssante.fr"], b"Subject: t\r\n\r\nx\r\n")
    entries = facteur.wait_queue(lambda e: e and e[0]["attempts"] >= 2, timeout=30)
    assert entries[0]["status"] == "pending"
    assert entries[0]["last_reply"].startswith("4")
    assert facteur.reports() == []


def raw_session(port: int, user: str, password: str, data: bytes, rcpt: str, sender: str) -> bytes:
    """A minimal hand-driven client, to send bytes smtplib would fix up."""
    import base64

    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    f = sock.makefile("rb")

    def expect(prefix: bytes):
        while True:
            line = f.readline()
            if line[3:4] != b"-":
                assert line.startswith(prefix), line
                return line

    def cmd(text: bytes, prefix: bytes):
        stream.sendall(text)
        return expect(prefix)

    stream = sock
    expect(b"220")
    cmd(b"EHLO raw\r\n", b"250")
    cmd(b"STARTTLS\r\n", b"220")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    stream = ctx.wrap_socket(sock)
    f = stream.makefile("rb")
    cmd(b"EHLO raw\r\n", b"250")
    token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode())
    cmd(b"AUTH PLAIN " + token + b"\r\n", b"235")
    cmd(f"MAIL FROM:<{sender}> BODY=8BITMIME\r\n".encode(), b"250")
    cmd(f"RCPT TO:<{rcpt}>\r\n".encode(), b"250")
    cmd(b"DATA\r\n", b"354")
    final = cmd(data + b"\r\n.\r\n", b"250")
    cmd(b"QUIT\r\n", b"221")
    stream.close()
    return final


def test_bare_lf_8bit_long_lines_and_huge_headers(facteur, operator):
    tag = uuid.uuid4().hex[:12]
    long_line = b"L" * 5000
    huge_header = b"X-Long: " + b"\r\n ".join([b"v" * 70] * 400)  # ~28 KB folded header
    data = (
        f"Subject: raw {tag}\n".encode()
        + huge_header
        + b"\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\n\n"
        + "Première ligne accentuée é à ü\n".encode("utf-8")
        + b"..dot-stuffed line\n"
        + long_line
        + b"\nfin\n"
    )
    # Dot-stuff as a client must, leaving the bare LFs in place.
    stuffed = data.replace(b"\n..", b"\n...")
    final = raw_session(facteur.port, facteur.USER, facteur.PASSWORD, stuffed, DEMO_TO, operator.env["CLIENT_MAILBOX"])
    assert b"queued as" in final
    (raw,) = find(operator, DEMO_TO, tag.encode())
    assert b"\r\n" in raw
    assert "Première ligne accentuée é à ü".encode() in raw
    assert b"\r\n..dot-stuffed line\r\n" in raw
    # Postfix may fold lines over 998 octets on its LMTP hop; the content stays.
    assert raw.replace(b"\r\n ", b"").count(b"L" * 5000) == 1
    assert raw.count(b"v" * 70) == 400


def test_message_ids_are_kept_and_added(facteur, operator):
    with facteur.smtp() as client:
        client.sendmail(operator.env["CLIENT_MAILBOX"], [DEMO_TO], b"Message-ID: <keep-me-123@cabinet>\r\nSubject: mid1\r\n\r\nx\r\n")
        client.sendmail(operator.env["CLIENT_MAILBOX"], [DEMO_TO], b"Subject: mid2 no id\r\n\r\nx\r\n")
    (kept,) = find(operator, DEMO_TO, b"keep-me-123@cabinet")
    assert kept.count(b"Message-ID:") + kept.count(b"Message-Id:") == 1
    (added,) = find(operator, DEMO_TO, b"mid2 no id")
    assert b"@test.mssante.fr>" in added


def test_untrusted_operator_certificate_is_refused(facteur_factory, operator, tmp_path):
    # Trust anchors that do not include the operator's CA: nothing is sent.
    other_ca = operator.env["OUTSIDER_CA"] if "OUTSIDER_CA" in operator.env else None
    if other_ca is None:
        pytest.skip("operator fixture has no second CA")
    f = facteur_factory(trust_anchors=other_ca).start()
    with f.smtp() as client:
        client.sendmail(operator.env["CLIENT_MAILBOX"], [DEMO_TO], b"Subject: must not leave\r\n\r\nx\r\n")
    entries = f.wait_queue(lambda e: e and e[0]["attempts"] >= 1, timeout=30)
    assert entries[0]["status"] == "pending"
    assert "TLS" in entries[0]["last_reply"]


def test_too_many_recipients(facteur_factory):
    f = facteur_factory(max_recipients=3).start()
    with f.smtp() as client:
        client.mail("cabinet.dupont@test.mssante.fr")
        for i in range(3):
            assert client.rcpt(f"dr{i}@medecin.test.mssante.fr")[0] == 250
        assert client.rcpt("dr9@medecin.test.mssante.fr")[0] == 452


def test_connection_limit(facteur_factory):
    f = facteur_factory(max_connections=2).start()
    time.sleep(0.5)  # let the start-up probe's session end
    a = socket.create_connection(("127.0.0.1", f.port))
    b = socket.create_connection(("127.0.0.1", f.port))
    assert a.recv(100).startswith(b"220")
    assert b.recv(100).startswith(b"220")
    c = socket.create_connection(("127.0.0.1", f.port))
    assert c.recv(100).startswith(b"421")
    for s in (a, b, c):
        s.close()


def test_idle_timeout(facteur_factory):
    f = facteur_factory(idle_timeout=1).start()
    s = socket.create_connection(("127.0.0.1", f.port), timeout=10)
    assert s.recv(100).startswith(b"220")
    time.sleep(1.5)
    assert s.recv(200).startswith(b"421 4.4.2")
    s.close()


def test_logs_never_contain_password_or_body(facteur, operator):
    with facteur.smtp() as client:
        client.sendmail(operator.env["CLIENT_MAILBOX"], [DEMO_TO], b"Subject: secret-log-check\r\n\r\nCORPS-PATIENT-XYZ\r\n")
    find(operator, DEMO_TO, b"secret-log-check")
    time.sleep(0.5)
    log = facteur.log()
    assert "queued" in log or "accepted" in log
    assert facteur.PASSWORD not in log
    assert "CORPS-PATIENT-XYZ" not in log


def test_implicit_tls_upstream(facteur_factory, operator):
    endpoint = f'host = "127.0.0.1"\nport = {operator.env["OPERATOR_SMTPS_PORT"]}'
    f = facteur_factory(upstream_tls="implicit", upstream_endpoint=endpoint).start()
    subject = unique_subject("TLS implicite")
    with f.smtp() as client:
        client.sendmail(operator.env["CLIENT_MAILBOX"], [DEMO_TO], f"Subject: {subject}\r\n\r\nx\r\n".encode())
    (raw,) = find(operator, DEMO_TO, subject.encode())
    assert b"verified OK" in raw


def test_operator_found_by_dns_srv(facteur_factory, operator, tmp_path):
    dns_port = free_port()
    dnsmasq = subprocess.Popen(
        [
            "dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll",
            "--bind-interfaces", "--listen-address=127.0.0.1", f"--port={dns_port}",
            f"--pid-file={tmp_path / 'dnsmasq.pid'}", "--user=root",
            f"--srv-host=_submission._tcp.test.mssante.fr,smtp.operateur.test,{operator.env['OPERATOR_SMTP_PORT']},0,0",
            "--host-record=smtp.operateur.test,127.0.0.1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        # No host, no server_name: the SRV target names the server and its
        # certificate is checked against that name.
        f = facteur_factory(upstream_endpoint=f'resolver = "127.0.0.1:{dns_port}"', server_name_line="").start()
        subject = unique_subject("SRV")
        with f.smtp() as client:
            client.sendmail(operator.env["CLIENT_MAILBOX"], [DEMO_TO], f"Subject: {subject}\r\n\r\nx\r\n".encode())
        find(operator, DEMO_TO, subject.encode())
        assert "target=smtp.operateur.test:" in f.log()
    finally:
        dnsmasq.terminate()
        dnsmasq.wait()


def test_operator_delivery_report_sets_delivered_in_tracking(facteur_factory, operator, tmp_path):
    """The box asks for delivery reports (DSN NOTIFY=SUCCESS, RET=HDRS:
    headers only, so the report never carries the document back);
    the operator's report comes back to the mailbox, the inbound bridge
    reads it, and tracking says « delivered » without anyone injecting it."""
    import time as _time

    operator.clear(operator.env["CLIENT_MAILBOX"])
    f = facteur_factory(
        inbound=f'[inbound]\nimport_dir = "{tmp_path / "import"}"\npoll_interval = 2\n'
    ).start()
    with f.smtp() as client:
        client.sendmail(
            operator.env["CLIENT_MAILBOX"],
            [operator.env["DEMO_TO"]],
            b"Subject: Avec accuse de remise\r\n\r\nCompte rendu.\r\n",
        )
    deadline = _time.time() + 60
    states = []
    while _time.time() < deadline:
        code, found = f.api("GET", "/v1/tracking?q=" + operator.env["DEMO_TO"])
        states = [h["state"] for h in found.get("recipients", [])] if code == 200 else []
        if states == ["delivered"]:
            break
        _time.sleep(0.5)
    assert states == ["delivered"], states
