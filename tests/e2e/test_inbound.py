"""The inbound bridge, end to end: mail arriving in the practice's MSSanté
inbox at the test operator (Dovecot) is exported by Facteur into the
import folder, one directory per message, and flagged upstream."""

import io
import json
import os
import time
import zipfile
import zlib
from email.message import EmailMessage
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
METADATA = REPO / "gateway" / "src" / "xdm" / "testdata" / "METADATA.XML"
KEYWORD = "$FacteurExported"


@pytest.fixture
def inbound_facteur(facteur_factory, operator, tmp_path):
    operator.clear(operator.env["CLIENT_MAILBOX"])
    import_dir = tmp_path / "import"

    def make(**overrides):
        f = facteur_factory(
            inbound=f"""[inbound]
import_dir = "{import_dir}"
poll_interval = {overrides.pop('poll_interval', 300)}
{overrides.pop('inbound_extra', '')}
""",
            **overrides,
        ).start()
        f.import_dir = import_dir
        return f

    return make


def deliver(operator, raw: bytes) -> None:
    """Puts a message in the box's MSSanté inbox, as the operator would."""
    client = operator.imap(operator.env["CLIENT_MAILBOX"])
    try:
        typ, data = client.append("INBOX", None, None, raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
        assert typ == "OK", data
    finally:
        client.logout()


def exported(f, count: int, timeout: float = 30.0) -> list:
    deadline = time.time() + timeout
    dirs = []
    while time.time() < deadline:
        dirs = sorted(p for p in f.import_dir.iterdir() if not p.name.startswith(".")) if f.import_dir.exists() else []
        if len(dirs) >= count:
            return dirs
        time.sleep(0.2)
    raise TimeoutError(f"{len(dirs)} of {count} messages exported; log:\n{f.log()[-3000:]}")


def flags(operator) -> list:
    client = operator.imap(operator.env["CLIENT_MAILBOX"])
    try:
        client.select("INBOX", readonly=True)
        _, data = client.fetch("1:*", "(FLAGS)")
        return [d.decode() for d in data if d]
    finally:
        client.logout()


def mail(subject: str, body: str = "Bonjour,\nvoici le compte rendu.\n", attachments=()) -> bytes:
    m = EmailMessage()
    m["From"] = "Service de cardiologie <secretariat@hopital.test.mssante.fr>"
    m["To"] = "cabinet.dupont@test.mssante.fr"
    m["Subject"] = subject
    m["Message-ID"] = f"<{zlib.crc32(subject.encode()):08x}@hopital.test>"
    m["Date"] = "Mon, 23 Nov 2026 10:00:00 +0100"
    m.set_content(body)
    for name, data, ctype in attachments:
        maintype, subtype = ctype.split("/")
        m.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return m.as_bytes()


PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def xdm_zip() -> bytes:
    """An IHE_XDM.ZIP built independently of Facteur (Python's zipfile and
    a hand-written ebRIM METADATA.XML)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("INDEX.HTM", "<html><body>XDM</body></html>")
        z.writestr("README.TXT", "IHE XDM")
        z.writestr("IHE_XDM/SUBSET01/METADATA.XML", METADATA.read_bytes())
        z.writestr("IHE_XDM/SUBSET01/DOC0001.PDF", PDF)
    return buf.getvalue()


def test_messages_are_exported_once_and_kept_upstream(operator, inbound_facteur):
    f = inbound_facteur()
    deliver(operator, mail("CR consultation", attachments=[("compte-rendu.pdf", PDF, "application/pdf")]))
    [d] = exported(f, 1)
    meta = json.loads((d / "message.json").read_text())
    assert meta["subject"] == "CR consultation"
    assert meta["from"].endswith("secretariat@hopital.test.mssante.fr>") or "secretariat@hopital.test.mssante.fr" in meta["from"]
    assert "compte-rendu.pdf" in meta["files"]
    assert (d / "compte-rendu.pdf").read_bytes() == PDF
    assert (d / "message.eml").exists()
    # Flagged, not deleted.
    deadline = time.time() + 10
    while KEYWORD not in " ".join(flags(operator)) and time.time() < deadline:
        time.sleep(0.2)
    [line] = flags(operator)
    assert KEYWORD in line and "Deleted" not in line

    # Restarted: nothing exported twice.
    f.stop()
    f.start()
    time.sleep(3)
    assert len(exported(f, 1)) == 1
    status = f.api("GET", "/v1/status")[1]["inbound"]
    assert status["state"] == "watching", status
    # The dashboard's « Derniers messages reçus », kept across the restart,
    # with the sender and the folder, never the subject.
    code, body = f.api("GET", "/v1/received?limit=5")
    assert code == 200 and len(body["received"]) == 1, body
    [received] = body["received"]
    assert received["from"] == "secretariat@hopital.test.mssante.fr" and received["folder"] == d.name, received
    assert received["files"] >= 1 and "subject" not in received


def test_new_mail_is_noticed_by_idle(operator, inbound_facteur):
    f = inbound_facteur(poll_interval=600)
    deadline = time.time() + 20
    while f.api("GET", "/v1/status")[1]["inbound"]["state"] != "watching" and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1)
    t0 = time.monotonic()
    deliver(operator, mail("Arrivé pendant IDLE"))
    exported(f, 1, timeout=20)
    print(f"inbound: exported {1000 * (time.monotonic() - t0):.0f} ms after arrival (IDLE; polling every 600 s)")


def test_xdm_package_is_unpacked_with_its_metadata(operator, inbound_facteur):
    f = inbound_facteur()
    deliver(operator, mail("XDM/1.0/DDM+Compte rendu DUPONT", attachments=[("IHE_XDM.ZIP", xdm_zip(), "application/zip")]))
    [d] = exported(f, 1)
    meta = json.loads((d / "message.json").read_text())
    [archive] = meta["xdm"]
    [doc] = archive["documents"]
    assert doc["ins"] is True
    assert doc["patient_id_authority"] == "1.2.250.1.213.1.4.10"
    assert doc["patient_id"]
    assert doc["type_code"] == "11488-4"
    assert (d / doc["file"]).read_bytes() == PDF


@pytest.mark.parametrize(
    "name, raw",
    [
        ("traversal", mail("Piège", attachments=[("../../etc/passwd", b"root:x:0:0", "text/plain")])),
        ("broken-mime", b"From: a@b.test\r\nTo: cabinet.dupont@test.mssante.fr\r\nSubject: casse\r\n"
                        b"Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\nContent-Type: text/plain; charset=x-inconnu\r\n\r\n\xe9t\xe9\r\n--XX\r\n"
                        b"Content-Type: application/pdf; name=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!pas du base64!!!\r\n"),
        ("zip-traversal", None),
        ("zip-bomb", None),
    ],
)
def test_bad_messages_are_exported_as_far_as_safe(operator, inbound_facteur, tmp_path, name, raw):
    if name == "zip-traversal":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("../../../evil.sh", "rm -rf /")
            z.writestr("IHE_XDM/SUBSET01/METADATA.XML", "<not xml")
        raw = mail("Zip piégé", attachments=[("IHE_XDM.ZIP", buf.getvalue(), "application/zip")])
    if name == "zip-bomb":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("IHE_XDM/SUBSET01/DOC0001.PDF", b"\0" * (300 * 1024 * 1024))
        raw = mail("Bombe", attachments=[("IHE_XDM.ZIP", buf.getvalue(), "application/zip")])
    before = sorted(os.listdir(tmp_path))
    f = inbound_facteur()
    deliver(operator, raw)
    [d] = exported(f, 1, timeout=60)
    meta = json.loads((d / "message.json").read_text())
    assert (d / "message.eml").exists()
    if name != "broken-mime":
        assert meta["problems"], meta
    # Nothing outside the import folder, the daemon alive, message kept.
    assert sorted(os.listdir(tmp_path)) == sorted(set(before) | {"import", "facteur0"})
    for p in d.rglob("*"):
        assert p.resolve().is_relative_to(f.import_dir.resolve())
    assert not (f.import_dir.parent / "evil.sh").exists()
    assert f.proc.poll() is None
    assert len(flags(operator)) == 1


def wait_tracking(f, predicate, timeout: float = 30.0) -> list:
    deadline = time.time() + timeout
    entries = []
    while time.time() < deadline:
        entries = f.api("GET", "/v1/tracking")[1]["recipients"]
        if predicate(entries):
            return entries
        time.sleep(0.3)
    raise TimeoutError(f"tracking never matched: {entries}")


def test_read_receipt_is_sent_when_asked(operator, inbound_facteur):
    hospital = "secretariat@hopital.test.mssante.fr"
    operator.clear(hospital)
    m = mail("Demande avis").replace(b"Subject:", f"Disposition-Notification-To: <{hospital}>\nSubject:".encode(), 1)
    f = inbound_facteur()
    deliver(operator, m)
    exported(f, 1)
    deadline = time.time() + 30
    receipts = []
    while time.time() < deadline and not receipts:
        receipts = [r for r in operator.fetch_all(hospital) if b"disposition-notification" in r]
        time.sleep(0.3)
    assert receipts, "no read receipt arrived"
    mdn = receipts[0]
    assert b"Original-Message-ID: <" in mdn and b"@hopital.test>" in mdn
    assert b"Disposition: automatic-action/MDN-sent-automatically; processed" in mdn
    assert b"Final-Recipient: rfc822; cabinet.dupont@test.mssante.fr" in mdn


def test_receipts_for_our_messages_update_tracking(operator, inbound_facteur):
    f = inbound_facteur(inbound_extra="receipt_timeout_hours = 72")
    with f.smtp() as client:
        msg = (b"From: cabinet.dupont@test.mssante.fr\r\nTo: dr.martin@medecin.test.mssante.fr, secretariat@hopital.test.mssante.fr\r\n"
               b"Subject: Courrier suivi\r\nMessage-ID: <suivi-1@facteur.test>\r\n"
               b"Disposition-Notification-To: <cabinet.dupont@test.mssante.fr>\r\n\r\nBonjour\r\n")
        client.sendmail(operator.env["CLIENT_MAILBOX"],
                        ["dr.martin@medecin.test.mssante.fr", "secretariat@hopital.test.mssante.fr"], msg)
    entries = wait_tracking(f, lambda e: len(e) == 2)
    assert {e["state"] for e in entries} == {"sent"} and all(e["receipt_requested"] for e in entries)

    # The doctor's software reads it; the hospital's server reports a failure.
    mdn = ("From: dr.martin@medecin.test.mssante.fr\r\nTo: cabinet.dupont@test.mssante.fr\r\nSubject: Lu\r\n"
           "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=disposition-notification; boundary=\"r\"\r\n\r\n"
           "--r\r\nContent-Type: text/plain\r\n\r\nLu.\r\n--r\r\nContent-Type: message/disposition-notification\r\n\r\n"
           "Final-Recipient: rfc822; dr.martin@medecin.test.mssante.fr\r\nOriginal-Message-ID: <suivi-1@facteur.test>\r\n"
           "Disposition: manual-action/MDN-sent-manually; displayed\r\n--r--\r\n").encode()
    dsn = ("From: MAILER-DAEMON@hopital.test\r\nTo: cabinet.dupont@test.mssante.fr\r\nSubject: Undelivered\r\n"
           "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"d\"\r\n\r\n"
           "--d\r\nContent-Type: text/plain\r\n\r\nEchec.\r\n--d\r\nContent-Type: message/delivery-status\r\n\r\n"
           "Reporting-MTA: dns; hopital.test\r\n\r\nFinal-Recipient: rfc822; secretariat@hopital.test.mssante.fr\r\n"
           "Action: failed\r\nStatus: 5.2.2\r\nDiagnostic-Code: smtp; 552 5.2.2 mailbox full\r\n"
           "--d\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <suivi-1@facteur.test>\r\n--d--\r\n").encode()
    deliver(operator, mdn)
    deliver(operator, dsn)
    entries = wait_tracking(f, lambda e: {x["state"] for x in e} == {"read", "failed"})
    by = {e["recipient"]: e for e in entries}
    assert by["dr.martin@medecin.test.mssante.fr"]["state"] == "read"
    assert "mailbox full" in by["secretariat@hopital.test.mssante.fr"]["detail"]
    # Reports are not exported as documents, but are flagged upstream.
    time.sleep(1)
    assert not [p for p in f.import_dir.iterdir() if not p.name.startswith(".")] if f.import_dir.exists() else True
    assert all(KEYWORD in line for line in flags(operator))

    # A late, contradicting receipt changes nothing: one final state each.
    deliver(operator, mdn.replace(b"displayed", b"deleted"))
    time.sleep(3)
    entries = f.api("GET", "/v1/tracking")[1]["recipients"]
    assert {e["recipient"]: e["state"] for e in entries}["dr.martin@medecin.test.mssante.fr"] == "read"


def test_no_answer_is_reported_once(operator, inbound_facteur):
    f = inbound_facteur(inbound_extra="receipt_timeout_hours = 0", poll_interval=2)
    with f.smtp() as client:
        msg = (b"From: cabinet.dupont@test.mssante.fr\r\nTo: dr.martin@medecin.test.mssante.fr\r\n"
               b"Subject: Sans reponse\r\nMessage-ID: <muet-1@facteur.test>\r\n"
               b"Disposition-Notification-To: <cabinet.dupont@test.mssante.fr>\r\n\r\nBonjour\r\n")
        client.sendmail(operator.env["CLIENT_MAILBOX"], ["dr.martin@medecin.test.mssante.fr"], msg)
    wait_tracking(f, lambda e: e and e[0]["state"] == "no_answer")
    time.sleep(5)  # more rounds: still one notice
    notices = [r for r in f.reports() if "accus".encode() in r or b"lecture" in r]
    assert len(notices) == 1, notices
    assert b"dr.martin@medecin.test.mssante.fr" in notices[0]
