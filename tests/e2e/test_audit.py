"""Audit log, queue actions and tracking with the real daemon and operator."""

import json
import re
import subprocess
import time
import uuid
from urllib.parse import quote

from facteur_harness import facteur_bin

DEMO_TO = "dr.martin@medecin.test.mssante.fr"


def cli(f, *args, input=None):
    return subprocess.run(
        [facteur_bin(), "--config", str(f.config_path), *args],
        capture_output=True,
        text=True,
        input=input,
        timeout=60,
    )


def submit(f, operator, subject: str) -> str:
    """Sends one message; returns its queue id from the 250 reply."""
    client = f.smtp()
    try:
        client.mail(operator.env["CLIENT_MAILBOX"])
        client.rcpt(DEMO_TO)
        code, text = client.data(f"Subject: {subject}\r\n\r\nCorps confidentiel\r\n".encode())
        assert code == 250, text
    finally:
        client.quit()
    match = re.search(rb"queued as ([0-9A-F]{16})", text)
    assert match, text
    return match.group(1).decode()


def audit_entries(f) -> list:
    out = cli(f, "audit", "list", "--json", "--limit", "1000")
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def wait_audit(f, predicate, timeout: float = 30.0) -> list:
    deadline = time.time() + timeout
    entries = []
    while time.time() < deadline:
        entries = audit_entries(f)
        if predicate(entries):
            return entries
        time.sleep(0.2)
    raise AssertionError(f"audit log never matched; last: {entries}")


def find(operator, mailbox: str, needle: bytes, timeout: float = 60.0) -> list:
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = [m for m in operator.fetch_all(mailbox) if needle in m]
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"{needle!r} never reached {mailbox}")


def status_of(f, queue_id: str) -> str:
    return next(e["status"] for e in f.queue_list() if e["id"] == queue_id)


def test_sent_message_is_audited_without_its_subject(facteur, operator):
    subject = f"Compte rendu patient {uuid.uuid4().hex[:10]}"
    queue_id = submit(facteur, operator, subject)
    entries = wait_audit(
        facteur,
        lambda es: any(e["action"] == "message_sent" and e["object"] == queue_id for e in es),
    )
    accepted = [e for e in entries if e["action"] == "message_accepted" and e["object"] == queue_id]
    assert len(accepted) == 1
    assert accepted[0]["actor"] == "smtp:secretariat"
    sent = next(e for e in entries if e["action"] == "message_sent" and e["object"] == queue_id)
    assert sent["actor"] == "daemon"
    assert DEMO_TO in sent["detail"]
    assert entries[0]["action"] == "daemon_started"
    text = (facteur.data_dir / "audit" / "audit.log").read_text()
    assert subject not in text and "Compte rendu" not in text and "confidentiel" not in text

    # Tracking: search by queue id and state, timeline by Message-ID.
    status, found = facteur.api("GET", f"/v1/tracking?q={queue_id}")
    assert status == 200, found
    (hit,) = found["recipients"]
    assert hit["queue_id"] == queue_id and hit["recipient"] == DEMO_TO
    assert hit["state"] == "sent"
    status, line = facteur.api("GET", "/v1/tracking/" + quote(hit["message_id"], safe="@"))
    assert status == 200, line
    assert line["queue_ids"] == [queue_id]
    steps = [s["event"] for s in line["recipients"][0]["timeline"]]
    assert steps[0] == "accepted" and "sent" in steps, steps
    status, body = facteur.api("GET", "/v1/tracking/nobody@nowhere")
    assert status == 404 and body["error"] == "no_such_message"
    # Without parameters the answer is the old one.
    status, plain = facteur.api("GET", "/v1/tracking")
    assert status == 200 and "queue_id" not in plain["recipients"][0]


def test_held_message_waits_for_release(facteur, operator):
    subject = f"held {uuid.uuid4().hex[:10]}"
    operator.stop_smtp()
    try:
        queue_id = submit(facteur, operator, subject)
        out = cli(facteur, "queue", "hold", queue_id)
        assert out.returncode == 0, out.stderr
        assert status_of(facteur, queue_id) == "held"
        # Holding twice: refused, says why.
        out = cli(facteur, "queue", "hold", queue_id)
        assert out.returncode == 1 and "held" in out.stderr
    finally:
        operator.start_smtp()
    time.sleep(5)
    assert status_of(facteur, queue_id) == "held"
    assert not [m for m in operator.fetch_all(DEMO_TO) if subject.encode() in m]
    status, found = facteur.api("GET", "/v1/tracking?state=held")
    assert status == 200 and [h["queue_id"] for h in found["recipients"]] == [queue_id]

    out = cli(facteur, "queue", "release", queue_id, "--recipient", DEMO_TO)
    assert out.returncode == 0, out.stderr
    facteur.wait_queue(lambda es: any(e["id"] == queue_id and e["status"] == "delivered" for e in es))
    find(operator, DEMO_TO, subject.encode())
    entries = audit_entries(facteur)
    actions = [(e["actor"], e["action"]) for e in entries if e["object"] == queue_id]
    assert ("cli", "queue_held") in actions
    assert ("cli", "queue_released") in actions
    assert actions.index(("cli", "queue_released")) < actions.index(("daemon", "message_sent"))
    status, line = facteur.api("GET", f"/v1/tracking/{queue_id}")
    steps = [s["event"] for s in line["recipients"][0]["timeline"]]
    assert steps.index("held") < steps.index("released") < steps.index("sent"), steps


def test_delete_needs_confirmation_and_keeps_tracking(facteur, operator):
    operator.stop_smtp()
    try:
        queue_id = submit(facteur, operator, f"delete {uuid.uuid4().hex[:10]}")
        status, body = facteur.api("POST", f"/v1/queue/{queue_id}/delete", {"actor": "web:admin"})
        assert status == 400 and body["error"] == "confirm_required"
        out = cli(facteur, "queue", "delete", queue_id, input="")
        assert out.returncode == 1 and "--yes" in out.stderr
        status, body = facteur.api(
            "POST", f"/v1/queue/{queue_id}/delete", {"actor": "web:admin", "confirm": True}
        )
        assert status == 200, body
        assert body["changed"] == [DEMO_TO] and body["finished"] is True
        assert [r["status"] for r in body["recipients"]] == ["deleted"]
    finally:
        operator.start_smtp()
    status, found = facteur.api("GET", f"/v1/tracking?state=deleted&q={queue_id}")
    assert [h["queue_id"] for h in found["recipients"]] == [queue_id]
    status, body = facteur.api("POST", f"/v1/queue/{queue_id}/retry")
    assert status == 409 and body["error"] == "not_applicable"
    status, body = facteur.api("POST", "/v1/queue/0123456789ABCDEF/hold")
    assert status == 404 and body["error"] == "no_such_message"
    status, body = facteur.api("POST", "/v1/queue/nope/hold")
    assert status == 400 and body["error"] == "bad_queue_id"
    deleted = [e for e in audit_entries(facteur) if e["action"] == "message_deleted"]
    assert deleted and deleted[-1]["actor"] == "web:admin" and deleted[-1]["object"] == queue_id


def test_web_admin_events_and_tampering(facteur, operator):
    status, entry = facteur.api(
        "POST", "/v1/audit", {"actor": "web:admin", "action": "signin", "detail": "from 192.168.1.20"}
    )
    assert status == 200, entry
    assert entry["seq"] >= 1 and len(entry["hash"]) == 64
    status, entry2 = facteur.api(
        "POST", "/v1/audit", {"actor": "web:admin", "action": "settings_changed", "object": "outbox.folders"}
    )
    assert status == 200 and entry2["prev"] == entry["hash"]
    for bad in (
        {"actor": "web:admin", "action": "Sign In"},
        {"actor": "web:admin", "action": "signin", "detail": "x" * 301},
        {"actor": "daemon", "action": "message_sent"},
        {"actor": "web:admin"},
    ):
        status, body = facteur.api("POST", "/v1/audit", bad)
        assert status == 400, (bad, body)
        assert body["error"] in ("bad_audit_entry", "bad_request")
    status, page = facteur.api("GET", f"/v1/audit?after_seq={entry['seq'] - 1}&limit=2")
    assert status == 200
    assert [e["seq"] for e in page["entries"]] == [entry["seq"], entry2["seq"]]
    status, report = facteur.api("GET", "/v1/audit/verify")
    assert status == 200 and report["ok"] is True and report["first_bad"] is None

    out = cli(facteur, "audit", "verify")
    assert out.returncode == 0, out.stderr
    export = facteur.workdir / "audit-export.zip"
    out = cli(facteur, "audit", "export", str(export))
    assert out.returncode == 0, out.stderr
    import zipfile

    with zipfile.ZipFile(export) as z:
        assert {"audit.log", "verify.json"} <= set(z.namelist())
        assert json.loads(z.read("verify.json"))["first_bad"] is None

    facteur.stop()
    log = facteur.data_dir / "audit" / "audit.log"
    lines = log.read_bytes().split(b"\n")
    target = next(i for i, l in enumerate(lines) if b'"settings_changed"' in l)
    lines[target] = lines[target].replace(b"outbox.folders", b"outbox.folderz")
    log.write_bytes(b"\n".join(lines))
    out = cli(facteur, "audit", "verify")
    assert out.returncode == 1
    assert f"audit.log line {target + 1}" in out.stderr, out.stderr
