"""Starts a real Facteur daemon for end-to-end tests.

The daemon is the release binary built by the test command (or FACTEUR_BIN),
configured against a running test operator (see tests/operator/), listening
on a free loopback port, with its own data directory.
"""

import os
import re
import signal
import socket
import ssl
import smtplib
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WHITELIST = REPO / "tests" / "fixtures" / "listeblanche-test.xml"


def facteur_bin() -> str:
    explicit = os.environ.get("FACTEUR_BIN")
    if explicit:
        return explicit
    for profile in ("release", "debug"):
        candidate = REPO / "target" / profile / "facteur"
        if candidate.exists():
            return str(candidate)
    raise RuntimeError("facteur binary not built: run cargo build --release")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20.0, proc=None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"facteur exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"port {port} not listening after {timeout}s")


def hash_password(password: str) -> str:
    out = subprocess.run(
        [facteur_bin(), "hash-password"], input=password + "\n", capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


_HASH_CACHE: dict = {}


class Facteur:
    """A Facteur daemon under test."""

    USER = "secretariat"
    PASSWORD = "Cabinet-Test-2026!"

    def __init__(self, workdir: Path, operator_env: dict, **overrides):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.env = operator_env
        self.port = free_port()
        self.data_dir = Path(overrides.pop("data_dir", self.workdir / "data"))
        self.log_path = self.workdir / "facteur.log"
        self.config_path = self.workdir / "facteur.toml"
        self.proc = None
        if self.PASSWORD not in _HASH_CACHE:
            _HASH_CACHE[self.PASSWORD] = hash_password(self.PASSWORD)
        self.write_config(**overrides)

    def write_config(self, **o):
        e = self.env
        credential = o.get("credential") or (
            f'kind = "software"\npkcs12 = "{e["CLIENT_P12"]}"\npkcs12_password_file = "{e["CLIENT_P12_PASS_FILE"]}"\n'
        )
        trusted = o.get("trusted_networks", [])
        self.factory = o.get("factory", False)
        text = (
            f"""data_dir = "{self.data_dir}"
{o.get('top', '')}

[log]
level = "{o.get('log_level', 'info')}"
format = "{o.get('log_format', 'text')}"

[smtp]
listen = ["127.0.0.1:{self.port}"]
hostname = "facteur.test"
max_message_size = {o.get('max_message_size', 20 * 1024 * 1024)}
max_recipients = {o.get('max_recipients', 50)}
max_connections = {o.get('max_connections', 32)}
idle_timeout = {o.get('idle_timeout', 60)}
session_timeout = {o.get('session_timeout', 600)}
trusted_networks = {trusted!r}

[[accounts]]
user = "{self.USER}"
password_hash = "{_HASH_CACHE[self.PASSWORD]}"

[mssante]
mailbox = "{e['CLIENT_MAILBOX']}"
nil = "FACTEUR-TEST"
whitelist = "{WHITELIST}"

[upstream]
{o.get('upstream_endpoint', f'host = "{e["OPERATOR_SMTP_HOST"]}"' + chr(10) + f'port = {e["OPERATOR_SMTP_PORT"]}')}
tls = "{o.get('upstream_tls', 'starttls')}"
{o.get('server_name_line', f'server_name = "{e["OPERATOR_SERVER_NAME"]}"')}
trust_anchors = "{o.get('trust_anchors', e['OPERATOR_CA'])}"
imap_host = "{e['OPERATOR_IMAP_HOST']}"
imap_port = {e['OPERATOR_IMAP_PORT']}
max_sessions = {o.get('max_sessions', 2)}
messages_per_session = {o.get('messages_per_session', 1000)}
session_idle = {o.get('session_idle', 30)}
connect_timeout = 5
command_timeout = 30

[credential]
{credential}
[queue]
retry_initial = {o.get('retry_initial', 1)}
retry_max = {o.get('retry_max', 2)}
lifetime_hours = {o.get('lifetime_hours', 120)}

{o.get('inbound', '')}

{o.get('imap', '')}

{o.get('autoconfig', '')}

{o.get('outbox', '')}

{o.get('sections', '')}
"""
        )
        if self.factory:
            # As the box leaves the factory: no mailbox, no credential, no
            # local account; the set-up wizard fills them in.
            text = re.sub(r"\[\[accounts\]\]\nuser = .*\npassword_hash = .*\n", "", text)
            text = re.sub(r'mailbox = ".*"\n', "", text, count=1)
            # An explicit credential is the installer's (a card with its
            # intermediates): kept, the wizard only adds the mailbox.
            if not o.get("credential"):
                text = re.sub(r"\[credential\]\n(.*\n)*?(?=\[queue\])", "", text)
        self.config_path.write_text(text)

    # -- process control -------------------------------------------------
    def start(self, env: dict = None, watchdog_pid: bool = False):
        """Starts the daemon; `env` adds to its environment, and
        `watchdog_pid` sets WATCHDOG_PID to the daemon's own PID, as systemd
        does for a unit with WatchdogSec=."""
        log = open(self.log_path, "ab")
        argv = [facteur_bin(), "--config", str(self.config_path), "run"]
        if watchdog_pid:
            argv = ["sh", "-c", 'WATCHDOG_PID=$$ exec "$@"', "sh", *argv]
        self.proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
        if self.factory:
            self.wait_api()
        else:
            wait_port(self.port, proc=self.proc)
        return self

    def wait_api(self, timeout: float = 20.0, configured=None) -> dict:
        """Waits until the control API answers (and, if asked, with that
        `configured` state); returns /v1/status."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"facteur exited with {self.proc.returncode}: {self.log()[-2000:]}")
            try:
                status, body = self.api("GET", "/v1/status")
                last = body
                if status == 200 and (configured is None or body.get("configured") == configured):
                    return body
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"control API not ready: {last} {self.log()[-2000:]}")

    def stop(self, timeout: float = 30.0):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # -- clients ----------------------------------------------------------
    def smtp(self, login: bool = True, timeout: float = 30.0) -> smtplib.SMTP:
        client = smtplib.SMTP("127.0.0.1", self.port, timeout=timeout)
        client.ehlo("poste-secretariat")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        client.starttls(context=ctx)
        client.ehlo("poste-secretariat")
        if login:
            client.login(self.USER, self.PASSWORD)
        return client

    def queue_list(self) -> list:
        import json

        out = subprocess.run(
            [facteur_bin(), "--config", str(self.config_path), "queue", "list", "--json"],
            capture_output=True,
            text=True,
            check=True,
        )
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]

    def wait_queue(self, predicate, timeout: float = 60.0):
        deadline = time.time() + timeout
        entries = []
        while time.time() < deadline:
            entries = self.queue_list()
            if predicate(entries):
                return entries
            time.sleep(0.2)
        raise TimeoutError(f"queue never matched; last: {entries}")

    # -- control API ----------------------------------------------------------
    @property
    def control_socket(self) -> Path:
        return self.data_dir / "control.sock"

    def api(self, method: str, path: str, body=None):
        """(HTTP status, decoded JSON) from the daemon's control API."""
        import http.client
        import json

        class UnixConnection(http.client.HTTPConnection):
            def __init__(self, socket_path):
                super().__init__("facteur", timeout=120)
                self.socket_path = socket_path

            def connect(self):
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.settimeout(120)
                self.sock.connect(str(self.socket_path))

        conn = UnixConnection(self.control_socket)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            conn.request(method, path, body=payload, headers={"content-type": "application/json"})
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            conn.close()

    def card(self) -> dict:
        status, body = self.api("GET", "/v1/card")
        assert status == 200, body
        return body

    def wait_card(self, predicate, timeout: float = 20.0) -> dict:
        deadline = time.time() + timeout
        card = {}
        while time.time() < deadline:
            card = self.card()
            if predicate(card):
                return card
            time.sleep(0.1)
        raise TimeoutError(f"card state never matched; last: {card}")

    def unlock(self, pin: str, confirm_last_try: bool = False):
        return self.api("POST", "/v1/card/unlock", {"pin": pin, "confirm_last_try": confirm_last_try})

    def cli(self, *args, input: str = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [facteur_bin(), "--config", str(self.config_path), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def reports(self) -> list:
        new = self.data_dir / "reports" / "new"
        return sorted(p.read_bytes() for p in new.iterdir()) if new.exists() else []


def delivered_subjects(operator, prefix: str) -> list:
    """Subjects starting with `prefix` in the demo correspondent's mailbox
    at the operator."""
    from email import message_from_bytes

    out = []
    for raw in operator.fetch_all(operator.env["DEMO_TO"]):
        subject = message_from_bytes(raw)["Subject"] or ""
        if subject.startswith(prefix):
            out.append(subject)
    return out


def wait_delivered(operator, prefix: str, count: int, timeout: float = 60.0) -> list:
    """Waits until `count` such messages reached the correspondent."""
    deadline = time.time() + timeout
    got = []
    while time.time() < deadline:
        got = delivered_subjects(operator, prefix)
        if len(got) >= count:
            return got
        time.sleep(0.3)
    raise TimeoutError(f"{len(got)} of {count} '{prefix}' messages delivered")
