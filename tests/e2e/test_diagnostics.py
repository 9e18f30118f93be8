"""Diagnostics, technical logs and the support bundle with the real daemon
and the test operator (Postfix/Dovecot with the test IGC-Santé PKI)."""

import http.client
import io
import json
import socket
import uuid
import zipfile
from pathlib import Path

from facteur_harness import _HASH_CACHE, Facteur, free_port
from test_audit import DEMO_TO, find, submit


def raw_get(f, path: str):
    """(status, headers, body bytes) from the control socket."""

    class UnixConnection(http.client.HTTPConnection):
        def __init__(self):
            super().__init__("facteur", timeout=120)

        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.settimeout(120)
            self.sock.connect(str(f.control_socket))

    conn = UnixConnection()
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def diagnostics(f, scope: str = "full") -> dict:
    status, report = f.api("GET", f"/v1/diagnostics?scope={scope}")
    assert status == 200, report
    return report


def by_id(report: dict) -> dict:
    return {c["id"]: c for c in report["checks"]}


def test_diagnostics_see_the_operator_reachable_and_tls_ok(facteur):
    report = diagnostics(facteur)
    checks = by_id(report)
    assert set(checks) == {
        "dns", "smtp_connect", "imap_connect", "tls", "clock", "disk", "queue", "credential",
    }, checks.keys()
    assert checks["dns"]["level"] == "ok", checks["dns"]
    assert checks["smtp_connect"]["code"] == "tcp_ok", checks["smtp_connect"]
    assert checks["imap_connect"]["code"] == "tcp_ok", checks["imap_connect"]
    tls = checks["tls"]
    # The operator's certificate, checked against the test IGC-Santé anchors
    # under the MSSanté policy (TLS 1.2, ECDHE-RSA-AES-GCM).
    assert tls["level"] in ("ok", "warning") and tls["code"].startswith("tls_"), tls
    assert tls["code"] in ("tls_ok", "tls_certificate_expiring"), tls
    assert tls["unit"] == "days" and tls["value"] > 0, tls
    assert tls["facts"]["tls_version"] == "TLSv1_2", tls
    assert "ECDHE_RSA" in tls["facts"]["cipher"], tls
    assert checks["credential"]["code"] in ("credential_ok", "credential_expiring"), checks["credential"]
    assert checks["queue"]["code"] in ("queue_empty", "queue_ok"), checks["queue"]
    assert checks["disk"]["facts"]["total_bytes"] > 0
    assert checks["clock"]["code"] in ("clock_synchronised", "clock_unsynchronised"), checks["clock"]
    # Nothing was sent: the operator's queue and the box's are untouched.
    assert facteur.queue_list() == []
    # The quick set (the dashboard's) opens no connection.
    quick = by_id(diagnostics(facteur, "quick"))
    assert "tls" not in quick and "smtp_connect" not in quick
    assert {"dns", "clock", "disk"} <= set(quick)
    status, body = facteur.api("GET", "/v1/diagnostics?scope=everything")
    assert status == 400 and body["error"] == "bad_query"


def test_diagnostics_report_a_closed_port(facteur_factory):
    f = facteur_factory(upstream_endpoint=f'host = "127.0.0.1"\nport = {free_port()}').start()
    report = diagnostics(f)
    checks = by_id(report)
    assert report["level"] == "error"
    assert checks["smtp_connect"]["level"] == "error"
    assert checks["smtp_connect"]["code"] == "tcp_refused", checks["smtp_connect"]
    assert checks["tls"]["level"] == "error", checks["tls"]
    # The rest still answers.
    assert checks["dns"]["level"] == "ok"
    assert checks["imap_connect"]["code"] == "tcp_ok"


def test_diagnostics_see_the_operator_stopped(facteur, operator):
    assert by_id(diagnostics(facteur))["smtp_connect"]["code"] == "tcp_ok"
    operator.stop_smtp()
    try:
        checks = by_id(diagnostics(facteur))
        assert checks["smtp_connect"]["level"] == "error", checks["smtp_connect"]
        assert checks["tls"]["level"] == "error", checks["tls"]
    finally:
        operator.start_smtp()
    assert by_id(diagnostics(facteur))["smtp_connect"]["code"] == "tcp_ok"


def test_logs_are_filtered(facteur):
    status, body = facteur.api("GET", "/v1/logs?limit=2000")
    assert status == 200, body
    events = body["events"]
    assert events, "the daemon's start is logged"
    assert [e["seq"] for e in events] == sorted((e["seq"] for e in events), reverse=True)
    assert any(e["component"] == "control" for e in events), events
    status, body = facteur.api("GET", "/v1/logs?component=control")
    assert status == 200 and body["events"]
    assert all(e["component"] == "control" for e in body["events"])
    status, body = facteur.api("GET", "/v1/logs?level=error")
    assert status == 200 and all(e["level"] == "error" for e in body["events"])
    for bad in ("level=loud", "limit=0", "limit=99999", "component=A%2FB"):
        status, body = facteur.api("GET", f"/v1/logs?{bad}")
        assert status == 400 and body["error"] == "bad_query", bad


def test_support_bundle_holds_no_password_hash_and_no_message(facteur, operator):
    marker = uuid.uuid4().hex[:12]
    subject = f"Compte rendu patient {marker}"
    queue_id = submit(facteur, operator, subject)
    find(operator, DEMO_TO, subject.encode())
    facteur.wait_queue(lambda es: any(e["id"] == queue_id and e["status"] == "delivered" for e in es))

    status, headers, body = raw_get(facteur, "/v1/support-bundle")
    assert status == 200, body[:300]
    assert headers["content-type"] == "application/zip"
    assert headers["content-disposition"].startswith('attachment; filename="facteur-support-')
    archive = zipfile.ZipFile(io.BytesIO(body))
    names = set(archive.namelist())
    assert names == {
        "README.txt", "info.json", "status.json", "diagnostics.json", "logs.jsonl",
        "config.toml", "audit-verify.json",
    }, names
    texts = {name: archive.read(name).decode() for name in names}
    everything = "\n".join(texts.values())

    info = json.loads(texts["info.json"])
    assert info["version"] and info["uptime_secs"] >= 0
    assert json.loads(texts["status.json"])["queue"]["delivered"] >= 1
    diag = by_id(json.loads(texts["diagnostics.json"]))
    assert diag["tls"]["level"] in ("ok", "warning")
    assert json.loads(texts["audit-verify.json"])["ok"] is True
    logs = [json.loads(line) for line in texts["logs.jsonl"].splitlines()]
    assert any(queue_id in json.dumps(e) for e in logs), "the message is followed by its id"
    # The configuration is there, without its secrets.
    assert "secretariat" in texts["config.toml"]
    assert "[retiré]" in texts["config.toml"]
    password_hash = _HASH_CACHE[Facteur.PASSWORD]
    p12_password = Path(operator.env["CLIENT_P12_PASS_FILE"]).read_text().strip()
    for secret in (password_hash, password_hash.split("$")[-1], Facteur.PASSWORD, p12_password):
        assert secret not in everything, secret
    # No message content: neither its subject nor its body.
    assert marker not in everything
    assert "Corps confidentiel" not in everything
