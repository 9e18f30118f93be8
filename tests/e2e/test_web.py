"""The web admin end to end: the test operator, pcscd with a simulated
CPS3 card, a card-credential daemon, facteur-web on loopback, and a real
browser (Debian's Chromium driven by Playwright, tests/web/)."""

import json
import re
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "card"))

from facteur_harness import REPO  # noqa: E402
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


def test_claim_login_unlock_logout_in_a_browser(pcsc, operator, card_facteur, tmp_path):
    ensure_node_modules()
    insert(pcsc, operator)
    f = card_facteur()
    f.wait_card(lambda c: c["state"] == "locked")
    web = Web(tmp_path / "web", f.control_socket).start()
    try:
        assert web.setup_code and len(web.setup_code) == 9, web.setup_code
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
