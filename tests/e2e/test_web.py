"""The web admin end to end: the test operator, pcscd with a simulated
CPS3 card, a card-credential daemon, facteur-web on loopback, and a real
browser (Debian's Chromium driven by Playwright, tests/web/)."""

import json
import re
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "card"))

from facteur_harness import REPO  # noqa: E402
from test_audit import submit  # noqa: E402
from test_inbound import deliver  # noqa: E402
from test_card import card_facteur, insert, pcsc  # noqa: E402,F401  (fixtures)

WEB = REPO / "tests" / "web"


def web_bin() -> str:
    explicit = os.environ.get("FACTEUR_WEB_BIN")
    if explicit:
        return explicit
    for profile in ("release", "debug"):
        candidate = REPO / "target" / profile / "facteur-web"
        if candidate.exists():
            return str(candidate)
    raise RuntimeError("facteur-web not built: run cargo build --release --bin facteur-web")


class Web:
    """A facteur-web process; its URL and setup code come from its ready line."""

    def __init__(self, workdir: Path, control_socket: Path):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "web.toml"
        self.config.write_text(
            f'listen = "127.0.0.1:0"\ncontrol_socket = "{control_socket}"\nstate_dir = "{self.dir / "state"}"\n'
            # Tests send no multicast on the host's network.
            "mdns = false\n"
        )
        self.log_path = self.dir / "facteur-web.log"
        self.proc = None
        self.url = None
        self.setup_code = None

    def start(self) -> "Web":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [web_bin(), "--config", str(self.config)],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
        )
        line = self.proc.stdout.readline().strip()
        assert line.startswith("facteur-web ready: "), f"{line!r} {self.log()[-2000:]}"
        fields = dict(f.split("=", 1) for f in line.split(": ", 1)[1].split())
        self.url = fields["url"]
        self.setup_code = fields.get("setup_code")
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def ensure_node_modules():
    if not (WEB / "node_modules" / "playwright-core").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True, capture_output=True)


def run_spec(spec: str, web: "Web", answer=None, env: dict = None, extra_log: str = "") -> dict:
    """Runs the browser spec tests/web/`spec` against `web`, answering each
    of its `need: …` lines with `answer(request)` ("ok …" or, if it raises,
    "fail …"); returns the spec's JSON result, asserted ok."""
    proc = subprocess.Popen(
        ["node", str(WEB / spec)],
        env={**os.environ, "FACTEUR_WEB_URL": web.url, "FACTEUR_WEB_SETUP_CODE": web.setup_code or "",
             "FACTEUR_WEB_ARTIFACTS": str(WEB / "artifacts"), **(env or {})},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out = []
    try:
        for line in proc.stdout:
            out.append(line)
            if line.startswith("need: "):
                try:
                    if answer is None:
                        raise AssertionError("this spec should ask for nothing")
                    reply = "ok " + answer(line[len("need: "):].strip())
                except Exception as e:  # the spec reports it and stops
                    reply = "fail " + repr(e).replace("\n", " ")
                proc.stdin.write(reply + "\n")
                proc.stdin.flush()
        proc.wait(300)
    finally:
        if proc.poll() is None:
            proc.kill()
    print("".join(out))
    stderr = proc.stderr.read()
    assert out, stderr
    result = json.loads(out[-1])
    assert proc.returncode == 0 and result["ok"], (
        f"{result.get('error')}\n{stderr[-2000:]}\n{web.log()[-3000:]}\n{extra_log[-3000:]}"
    )
    return result


def test_claim_login_unlock_logout_in_a_browser(pcsc, operator, card_facteur, tmp_path):
    ensure_node_modules()
    insert(pcsc, operator)
    f = card_facteur(sections='[board]\ndescription = "simulated"\n')
    f.wait_card(lambda c: c["state"] == "locked")
    web = Web(tmp_path / "web", f.control_socket).start()
    try:
        assert web.setup_code and len(web.setup_code) == 9, web.setup_code
        # The display shows how to reach the web admin, and the setup code.
        deadline = time.time() + 15
        while time.time() < deadline and f.api("GET", "/v1/board")[1]["info"]["setup_code"] is None:
            time.sleep(0.2)
        info = f.api("GET", "/v1/board")[1]["info"]
        assert info == {"address": web.url, "setup_code": web.setup_code}, info
        assert f"facteur-web: setup code {web.setup_code}" in web.log()
        artifacts = WEB / "artifacts"
        out = subprocess.run(
            ["node", str(WEB / "admin.spec.mjs")],
            env={**os.environ, "FACTEUR_WEB_URL": web.url, "FACTEUR_WEB_SETUP_CODE": web.setup_code,
                 "FACTEUR_WEB_ARTIFACTS": str(artifacts)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        print(out.stdout)
        lines = out.stdout.strip().splitlines()
        assert lines, out.stderr
        result = json.loads(lines[-1])
        assert out.returncode == 0 and result["ok"], f"{result.get('error')}\n{out.stderr[-2000:]}\n{web.log()[-3000:]}"
        assert result["forged_status"] == 403
        assert (result["board_locked"], result["board_ready"], result["board_identify"]) == (
            "card_needed", "ready", "identify")
        assert all(v == [] for v in result["axe"].values()), result["axe"]
        assert set(result["axe"]) == {"setup", "login", "dashboard", "card"}
        assert result["dashboard_bytes"] < 150 * 1024, result["dashboard_resources"]
        assert any(line.startswith("web: dashboard_bytes=") for line in lines)
        for shot in result["screenshots"]:
            assert Path(shot).stat().st_size > 0
        # The daemon was unlocked through the web admin; the PIN left no trace.
        assert f.card()["state"] == "unlocked"
        for log in (web.log(), f.log()):
            for pin in ("1234", "9999"):
                assert not re.search(rf"(?<![0-9]){pin}(?![0-9])", log), pin
            assert "Cabinet du Parc" not in log
        # The daemon's audit log has the admin's actions, chained and
        # verifiable, and never the PIN.
        listed = f.cli("audit", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        entries = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
        web_actions = [(e["actor"], e["action"]) for e in entries if e["actor"] == "web:admin"]
        for action in ("box_claimed", "signin", "card_unlock_failed", "card_unlocked", "signout"):
            assert ("web:admin", action) in web_actions, web_actions
        assert "1234" not in listed.stdout and "9999" not in listed.stdout
        assert f.cli("audit", "verify").returncode == 0
        # A restart after the claim prints no setup code any more.
        web.stop()
        again = Web(tmp_path / "web", f.control_socket).start()
        try:
            assert again.setup_code is None
        finally:
            again.stop()
    finally:
        web.stop()


def delivery_report(recipient: str, message_id: str) -> bytes:
    """The operator's delivery-status report saying `recipient` has the message."""
    return (
        "From: MAILER-DAEMON@operateur.test\r\nTo: cabinet.dupont@test.mssante.fr\r\nSubject: Delivery report\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nRemis.\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; operateur.test\r\n\r\nFinal-Recipient: rfc822; {recipient}\r\n"
        "Action: delivered\r\nStatus: 2.0.0\r\n"
        f"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {message_id}\r\n--b--\r\n"
    ).encode()


def wait_for(what, probe, timeout: float = 60.0):
    deadline = time.time() + timeout
    value = None
    while time.time() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.3)
    raise TimeoutError(f"{what}: last {value!r}")


def test_queue_tracking_and_audit_in_a_browser(pcsc, operator, card_facteur, tmp_path):
    """Sending a message and seeing it reach « Remis » in tracking; holding
    a message while the operator is down, releasing it; deleting one after
    its confirmation; the audit log verified and exported."""
    ensure_node_modules()
    operator.clear(operator.env["CLIENT_MAILBOX"])
    insert(pcsc, operator)
    import_dir = tmp_path / "import"
    f = card_facteur(inbound=f'[inbound]\nimport_dir = "{import_dir}"\npoll_interval = 2\n')
    f.wait_card(lambda c: c["state"] == "locked")
    status, _ = f.unlock("1234")
    assert status == 200
    to = operator.env["DEMO_TO"]

    def queue_status(qid):
        return {e["status"] for e in f.queue_list() if e["id"] == qid}

    def tracking_state(qid):
        status, found = f.api("GET", f"/v1/tracking?q={qid}")
        return [h["state"] for h in found["recipients"]] if status == 200 else []

    def message_id(qid):
        status, line = f.api("GET", f"/v1/tracking/{qid}")
        assert status == 200, line
        return line["message_id"]

    def delivered_and_reported(qid):
        wait_for(f"{qid} sent", lambda: queue_status(qid) == {"delivered"})
        deliver(operator, delivery_report(to, f"<{message_id(qid).strip('<>')}>"))
        wait_for(f"{qid} delivered in tracking", lambda: tracking_state(qid) == ["delivered"])

    smtp_stopped = False
    held = deleted = None

    def answer(what: str) -> str:
        nonlocal smtp_stopped, held, deleted
        if what == "send-delivered":
            qid = submit(f, operator, "Suivi web")
            delivered_and_reported(qid)
            return message_id(qid)
        if what == "smtp-down-send-two":
            operator.stop_smtp()
            smtp_stopped = True
            held = submit(f, operator, "A suspendre")
            deleted = submit(f, operator, "A supprimer")
            return f"{held} {deleted}"
        if what == "smtp-up-still-held":
            operator.start_smtp()
            smtp_stopped = False
            time.sleep(5)
            assert queue_status(held) == {"held"}, queue_status(held)
            assert queue_status(deleted) == {"deleted"}, queue_status(deleted)
            return "held"
        if what == "held-delivered":
            delivered_and_reported(held)
            return held
        raise AssertionError(f"unknown request {what}")

    web = Web(tmp_path / "web", f.control_socket).start()
    try:
        result = run_spec("tracking.spec.mjs", web, answer)
    finally:
        if smtp_stopped:
            operator.start_smtp()
        web.stop()
    assert set(result["axe"]) == {"tracking", "timeline", "queue", "delete", "dashboard-latest", "audit"}
    assert all(v == [] for v in result["axe"].values()), result["axe"]
    for shot in result["screenshots"]:
        assert Path(shot).stat().st_size > 0
    # The admin's queue actions are in the daemon's audit log, under its name.
    listed = f.cli("audit", "list", "--json", "--limit", "1000")
    entries = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
    acted = {(e["action"], e["object"]) for e in entries if e["actor"] == "web:admin"}
    for action, qid in (("queue_held", held), ("queue_released", held), ("message_deleted", deleted)):
        assert (action, qid) in acted, acted
    assert ("audit_exported", None) in acted
    assert result["export_lines"] >= len(entries) - 1
    assert f.cli("audit", "verify").returncode == 0
    # No PIN, no password in any log.
    for log in (web.log(), f.log()):
        assert not re.search(r"(?<![0-9])1234(?![0-9])", log)
        assert "Cabinet du Parc" not in log


def test_first_run_wizard_in_a_browser(pcsc, operator, facteur_factory, tmp_path):
    """From the factory to a delivered document, in Chromium: claim, the
    wizard's steps against the simulated card and the test operator, a
    local account that then logs in over SMTP, and a PDF dropped in the
    folder the wizard showed, followed to « Remis » in tracking."""
    import smtplib
    import ssl

    from test_outbox import drop, sidecar_for
    from test_settings import operators_file
    from pdfs import make_pdf

    ensure_node_modules()
    operator.clear(operator.env["CLIENT_MAILBOX"])
    insert(pcsc, operator)
    outbox = tmp_path / "documents"
    f = facteur_factory(
        factory=True,
        credential=f'kind = "card"\nintermediates = "{operator.env["CARD_INTERMEDIATES"]}"\n',
        upstream_endpoint='host = "127.0.0.1"\nport = 1',
        top=f'operators = "{operators_file(tmp_path, operator.env)}"\n',
        inbound=f'[inbound]\nimport_dir = "{tmp_path / "import"}"\npoll_interval = 2\n',
        outbox=f"""[outbox]
folders = ["{outbox}"]
scan_interval = 1
settle_time = 1
[outbox.author]
national_id = "810000000001"
family_name = "DUPONT"
given_name = "Jean"
""",
    ).start()
    assert f.wait_api()["configured"] is False
    web = Web(tmp_path / "web", f.control_socket).start()

    def answer(what: str) -> str:
        kind, _, rest = what.partition(" ")
        if kind == "smtp-login":
            user, password_and_port = rest.split(" ", 1)
            password, port = password_and_port.rsplit(" ", 1)
            assert int(port) == f.port, (port, f.port)
            client = smtplib.SMTP("127.0.0.1", f.port, timeout=30)
            client.starttls(context=ssl._create_unverified_context())
            client.login(user, password)
            client.quit()
            return "logged in"
        if kind == "drop-pdf":
            assert rest == str(outbox), (rest, outbox)
            drop(outbox, "cr-wizard.pdf", make_pdf("Compte rendu assistant"), sidecar_for("assistant"))
            return "Test Éloïse"
        raise AssertionError(f"unknown request {what}")

    try:
        result = run_spec("wizard.spec.mjs", web, answer, env={"FACTEUR_MAILBOX": operator.env["CLIENT_MAILBOX"]},
                          extra_log=f.log())
    finally:
        web.stop()
    assert set(result["axe"]) == {"mailbox", "card", "test", "accounts"}
    assert all(v == [] for v in result["axe"].values()), result["axe"]
    for shot in result["screenshots"]:
        assert Path(shot).stat().st_size > 0
    # The daemon restarted once, in place, and now runs set up.
    status = f.wait_api()
    assert status["configured"] is True and status["card"]["state"] == "unlocked"
    listed = f.cli("audit", "list", "--json").stdout
    for action in ("operator_chosen", "settings_changed", "credential_changed", "restart_requested",
                   "card_unlock_failed", "card_unlocked", "account_created"):
        assert f'"{action}"' in listed, action
    for log in (web.log(), f.log()):
        assert "Poste secretariat 2026" not in log
        assert not re.search(r"(?<![0-9])1234(?![0-9])", log)
