"""Local IMAP through the box: a practice's mail client (Python's imaplib)
logs in with a local account and reaches the MSSanté mailbox at the test
operator, which the box opens in the practice's name (mutual TLS, EXTERNAL)."""

import imaplib
import socket
import ssl
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from facteur_harness import free_port  # noqa: E402
from test_inbound import deliver, mail  # noqa: E402


def client_context() -> ssl.SSLContext:
    # The box's own certificate, generated at first start: a mail client
    # is told to accept it once; the test does not verify it.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@pytest.fixture
def imap_facteur(facteur_factory, operator):
    operator.clear(operator.env["CLIENT_MAILBOX"])

    def make(**overrides):
        port, tls_port, http_port = free_port(), free_port(), free_port()
        f = facteur_factory(
            autoconfig=f'[autoconfig]\nlisten = ["127.0.0.1:{http_port}"]\n',
            imap=f"""[imap]
listen = ["127.0.0.1:{port}"]
listen_tls = ["127.0.0.1:{tls_port}"]
max_upstream_sessions = {overrides.pop('max_upstream_sessions', 4)}
upstream_wait = {overrides.pop('upstream_wait', 30)}
""",
            **overrides,
        ).start()
        f.imap_port, f.imaps_port, f.http_port = port, tls_port, http_port
        return f

    return make


def login(f) -> imaplib.IMAP4:
    client = imaplib.IMAP4("127.0.0.1", f.imap_port)
    client.starttls(ssl_context=client_context())
    client.login(f.USER, f.PASSWORD)
    return client


def test_mail_client_reads_and_files_the_mssante_mailbox(operator, imap_facteur):
    deliver(operator, mail("Compte rendu 1", attachments=[("cr.pdf", b"%PDF-1.4 test", "application/pdf")]))
    deliver(operator, mail("Compte rendu 2"))
    f = imap_facteur()

    client = imaplib.IMAP4("127.0.0.1", f.imap_port)
    caps = client.capabilities
    assert "STARTTLS" in caps and "LOGINDISABLED" in caps
    with pytest.raises(imaplib.IMAP4.error):
        client.login(f.USER, f.PASSWORD)  # never in clear
    client.starttls(ssl_context=client_context())
    typ, _ = client.login(f.USER, f.PASSWORD)
    assert typ == "OK"
    typ, data = client.capability()
    caps = data[0].decode().split()
    assert "IMAP4rev1" in caps and "IDLE" in caps
    assert not any(c == "STARTTLS" or c.startswith("AUTH=") or c == "LOGINDISABLED" for c in caps), caps

    typ, boxes = client.list()
    assert typ == "OK" and any(b"INBOX" in b for b in boxes)
    typ, data = client.select("INBOX")
    assert typ == "OK" and data[0] == b"2"
    typ, data = client.search(None, "SUBJECT", '"Compte rendu 1"')
    [num] = data[0].split()
    typ, data = client.fetch(num, "(BODY.PEEK[])")
    raw = data[0][1]
    assert b"Subject: Compte rendu 1" in raw and b"cr.pdf" in raw
    # The body fetched through the box is the operator's, byte for byte.
    upstream = [m for m in operator.fetch_all(operator.env["CLIENT_MAILBOX"]) if b"Compte rendu 1" in m][0]
    assert raw == upstream

    typ, _ = client.store(num, "+FLAGS", r"(\Flagged)")
    assert typ == "OK"
    typ, _ = client.append("INBOX", r"(\Seen)", None, mail("Brouillon").replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n"))
    assert typ == "OK"
    client.logout()

    # Seen from the operator's side.
    direct = operator.imap(operator.env["CLIENT_MAILBOX"])
    direct.select("INBOX", readonly=True)
    _, data = direct.search(None, "FLAGGED")
    assert len(data[0].split()) == 1
    _, data = direct.search(None, "ALL")
    assert len(data[0].split()) == 3
    direct.logout()


def test_idle_announces_new_mail(operator, imap_facteur):
    f = imap_facteur()
    client = login(f)
    client.select("INBOX")
    tag = client._new_tag().decode()
    client.send(f"{tag} IDLE\r\n".encode())
    assert client.readline().startswith(b"+")
    deliver(operator, mail("Arrivé pendant IDLE"))
    client.sock.settimeout(20)
    line = client.readline()
    assert line.startswith(b"* ") and b"EXISTS" in line, line
    client.send(b"DONE\r\n")
    while True:
        line = client.readline()
        if line.startswith(tag.encode()):
            assert b"OK" in line
            break
    client.logout()


def test_implicit_tls_and_authenticate_plain(operator, imap_facteur):
    f = imap_facteur()
    client = imaplib.IMAP4_SSL("127.0.0.1", f.imaps_port, ssl_context=client_context())
    assert "AUTH=PLAIN" in client.capabilities
    user, password = f.USER, f.PASSWORD
    typ, _ = client.authenticate("PLAIN", lambda _: f"\0{user}\0{password}".encode())
    assert typ == "OK"
    typ, _ = client.select("INBOX")
    assert typ == "OK"
    client.logout()


def test_wrong_password_and_limits(operator, imap_facteur):
    f = imap_facteur(max_upstream_sessions=1, upstream_wait=2)
    client = imaplib.IMAP4("127.0.0.1", f.imap_port)
    client.starttls(ssl_context=client_context())
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        client.login(f.USER, "pas le bon")
    client.logout()

    first = login(f)
    second = imaplib.IMAP4("127.0.0.1", f.imap_port)
    second.starttls(ssl_context=client_context())
    t0 = time.monotonic()
    with pytest.raises(imaplib.IMAP4.error, match="UNAVAILABLE"):
        second.login(f.USER, f.PASSWORD)
    assert time.monotonic() - t0 >= 1.5
    first.logout()
    # The session is back in the pool: the next client gets it.
    third = login(f)
    third.logout()
    assert "AUTHENTICATIONFAILED" not in f.log() or "pas le bon" not in f.log()


def test_mail_clients_configure_themselves(operator, imap_facteur):
    import urllib.request
    import xml.etree.ElementTree as ET

    f = imap_facteur()
    for path in ("/.well-known/autoconfig/mail/config-v1.1.xml", "/mail/config-v1.1.xml"):
        with urllib.request.urlopen(f"http://127.0.0.1:{f.http_port}{path}?emailaddress=secretariat@facteur.test") as r:
            root = ET.fromstring(r.read())
        incoming = {(s.findtext("socketType"), s.findtext("port")) for s in root.iter("incomingServer")}
        assert incoming == {("STARTTLS", str(f.imap_port)), ("SSL", str(f.imaps_port))}
        [smtp] = root.iter("outgoingServer")
        assert smtp.findtext("port") == str(f.port) and smtp.findtext("hostname") == "facteur.test"

    body = b"""<?xml version="1.0"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
<Request><EMailAddress>secretariat@facteur.test</EMailAddress>
<AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>"""
    req = urllib.request.Request(f"http://127.0.0.1:{f.http_port}/autodiscover/autodiscover.xml", data=body, method="POST")
    with urllib.request.urlopen(req) as r:
        text = r.read().decode()
    assert "<LoginName>secretariat</LoginName>" in text
    assert f"<Port>{f.imaps_port}</Port>" in text and f"<Port>{f.port}</Port>" in text

    # The settings work: log in as they say.
    client = imaplib.IMAP4_SSL("127.0.0.1", f.imaps_port, ssl_context=client_context())
    client.login("secretariat", f.PASSWORD)
    client.logout()
