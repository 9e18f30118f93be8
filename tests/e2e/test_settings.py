"""Setting a box up from the factory through the daemon's control API, as
the web admin's wizard does: the box starts with no mailbox and no
credential, gets an operator from the operators file, a software
certificate uploaded as PKCS#12, a local account; restarts in place into a
working daemon; and the connection test tells a working operator from an
unreachable one and from a refused certificate."""

import base64
import smtplib
import subprocess
from pathlib import Path

from facteur_harness import Facteur


def operators_file(tmp_path: Path, env: dict, port=None) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "operators.toml"
    path.write_text(
        f"""[[operator]]
id = "test"
name = "Opérateur de test"
smtp_host = "{env['OPERATOR_SMTP_HOST']}"
smtp_port = {port or env['OPERATOR_SMTP_PORT']}
imap_host = "{env['OPERATOR_IMAP_HOST']}"
imap_port = {env['OPERATOR_IMAP_PORT']}
server_name = "{env['OPERATOR_SERVER_NAME']}"

[[operator]]
id = "manual"
name = "Autre opérateur"
manual = true
"""
    )
    return path


def factory_box(facteur_factory, tmp_path, operator, **extra) -> Facteur:
    ops = operators_file(tmp_path, operator.env)
    return facteur_factory(
        factory=True,
        upstream_endpoint='host = "127.0.0.1"\nport = 1',
        top=f'operators = "{ops}"\n',
        inbound=f'[inbound]\nimport_dir = "{tmp_path / "import"}"\n',
        **extra,
    )


def p12(env: dict) -> str:
    return base64.b64encode(Path(env["CLIENT_P12"]).read_bytes()).decode()


def p12_password(env: dict) -> str:
    return Path(env["CLIENT_P12_PASS_FILE"]).read_text().splitlines()[0]


def restart(f: Facteur, configured=True) -> dict:
    pid = f.proc.pid
    status, body = f.api("POST", "/v1/restart", {"actor": "web:admin"})
    assert status == 202, body
    # The control socket goes away during the orderly stop, then the same
    # process (same PID) answers again.
    import time

    time.sleep(1.0)
    answer = f.wait_api(timeout=30, configured=configured)
    assert f.proc.pid == pid and f.proc.poll() is None
    return answer


def test_a_factory_box_is_set_up_through_the_control_api(facteur_factory, operator, tmp_path):
    f = factory_box(facteur_factory, tmp_path, operator).start()
    status = f.wait_api()
    assert status["configured"] is False
    assert status["missing"] == ["mssante.mailbox", "credential"]
    # Only the set-up endpoints answer.
    code, body = f.api("GET", "/v1/queue")
    assert code == 503 and body["error"] == "not_configured"

    code, body = f.api("GET", "/v1/operators")
    assert code == 200 and [o["id"] for o in body["operators"]] == ["test", "manual"]
    code, body = f.api("POST", "/v1/settings/operator", {"id": "nope"})
    assert code == 404
    code, body = f.api("POST", "/v1/settings/operator", {"id": "test", "actor": "web:admin"})
    assert code == 200, body

    code, body = f.api("PUT", "/v1/settings", {"changes": {"mssante.mailbox": "pas une adresse"}})
    assert code == 422 and body["key"] == "mssante.mailbox", body
    code, body = f.api("PUT", "/v1/settings", {"changes": {"data_dir": "/tmp"}})
    assert code == 422 and body["error"] == "not_editable", body
    code, body = f.api(
        "PUT", "/v1/settings", {"changes": {"mssante.mailbox": operator.env["CLIENT_MAILBOX"]}, "actor": "web:admin"}
    )
    assert code == 200, body

    # A wrong password, a damaged file: refused, with a code, nothing kept.
    code, body = f.api("POST", "/v1/credential/pkcs12", {"pkcs12": p12(operator.env), "password": "wrong"})
    assert code == 422 and body["error"] == "pkcs12_wrong_password", body
    damaged = base64.b64encode(Path(operator.env["CLIENT_P12"]).read_bytes()[:200]).decode()
    code, body = f.api("POST", "/v1/credential/pkcs12", {"pkcs12": damaged, "password": p12_password(operator.env)})
    assert code == 422 and body["error"] == "pkcs12_damaged", body
    assert not list((f.data_dir / "credential").glob("*")) if (f.data_dir / "credential").exists() else True
    code, body = f.api(
        "POST",
        "/v1/credential/pkcs12",
        {"pkcs12": p12(operator.env), "password": p12_password(operator.env), "actor": "web:admin"},
    )
    assert code == 200, body
    assert "ORGANISATION" in body["identity"].upper() or body["identity"], body

    code, body = f.api("POST", "/v1/accounts", {"user": "secretariat", "password": "court"})
    assert code == 422 and body["error"] == "weak_password"
    code, body = f.api(
        "POST", "/v1/accounts", {"user": "secretariat", "password": "Un mot de passe assez long", "actor": "web:admin"}
    )
    assert code == 200 and body["created"] is True, body

    code, settings = f.api("GET", "/v1/settings")
    assert settings["configured"] is True and settings["credential"] == "software"
    assert settings["accounts"] == ["secretariat"]
    text = (f.data_dir / "settings.toml").read_text()
    assert "Un mot de passe assez long" not in text and p12_password(operator.env) not in text

    status = restart(f)
    assert status["configured"] is True and status["credential"]["ready"] is True, status

    # The connection test opens real sessions at the operator.
    code, result = f.api("POST", "/v1/connection-test")
    assert code == 200 and result["ok"], result
    assert [s["step"] for s in result["steps"]] == ["credential", "smtp", "imap"]

    # The new account sends through the box (SMTP port from the file).
    client = smtplib.SMTP("127.0.0.1", f.port, timeout=30)
    client.starttls(context=__import__("ssl")._create_unverified_context())
    client.login("secretariat", "Un mot de passe assez long")
    client.quit()
    # Accounts apply without a restart.
    code, body = f.api("POST", "/v1/accounts", {"user": "accueil", "password": "Encore un mot de passe long"})
    assert code == 200, body
    client = smtplib.SMTP("127.0.0.1", f.port, timeout=30)
    client.starttls(context=__import__("ssl")._create_unverified_context())
    client.login("accueil", "Encore un mot de passe long")
    client.quit()

    listed = f.cli("audit", "list", "--json")
    for action in ("operator_chosen", "settings_changed", "credential_changed", "account_created", "restart_requested"):
        assert f'"{action}"' in listed.stdout, action
    assert "Un mot de passe assez long" not in listed.stdout
    assert f.cli("audit", "verify").returncode == 0


def test_connection_test_names_what_is_wrong(facteur_factory, operator, tmp_path):
    f = factory_box(facteur_factory, tmp_path, operator).start()
    f.wait_api()
    assert f.api("POST", "/v1/settings/operator", {"id": "test"})[0] == 200
    assert f.api("PUT", "/v1/settings", {"changes": {"mssante.mailbox": operator.env["CLIENT_MAILBOX"]}})[0] == 200
    pw = p12_password(operator.env)
    assert f.api("POST", "/v1/credential/pkcs12", {"pkcs12": p12(operator.env), "password": pw})[0] == 200
    # Operator unreachable: a closed port.
    assert f.api("PUT", "/v1/settings", {"changes": {"upstream.port": 1}})[0] == 200
    restart(f)
    code, result = f.api("POST", "/v1/connection-test")
    assert result["ok"] is False
    smtp = [s for s in result["steps"] if s["step"] == "smtp"][0]
    assert smtp["code"] == "operator_unreachable", result

    # A certificate the operator does not trust: the outsider's.
    real_port = int(operator.env["OPERATOR_SMTP_PORT"])
    assert f.api("PUT", "/v1/settings", {"changes": {"upstream.port": real_port}})[0] == 200
    pki = Path(operator.env["OPERATOR_PKI"])
    outsider = tmp_path / "outsider.p12"
    subprocess.run(
        ["openssl", "pkcs12", "-export", "-inkey", pki / "outsider.key", "-in", pki / "outsider.pem",
         "-passout", "pass:outsider-password", "-out", outsider],
        check=True, capture_output=True,
    )
    code, body = f.api(
        "POST", "/v1/credential/pkcs12",
        {"pkcs12": base64.b64encode(outsider.read_bytes()).decode(), "password": "outsider-password"},
    )
    assert code == 200, body
    restart(f)
    code, result = f.api("POST", "/v1/connection-test")
    smtp = [s for s in result["steps"] if s["step"] == "smtp"][0]
    assert result["ok"] is False and smtp["code"] == "certificate_refused", result


class Browser:
    """A cookie-keeping HTTPS client for the web admin (the box's own
    certificate is accepted, as a practitioner does once)."""

    def __init__(self, url: str):
        import http.cookiejar
        import ssl
        import urllib.request

        self.url = url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=ssl._create_unverified_context()),
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
        )

    def get(self, path: str):
        r = self.opener.open(self.url + path)
        return r.geturl(), r.read()

    def post(self, path: str, data: dict, files: dict = None):
        import urllib.parse
        import urllib.request

        if files:
            boundary = "----facteur-e2e"
            body = b""
            for k, v in data.items():
                body += f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
            for k, (name, content) in files.items():
                body += (f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{name}"\r\n'
                         "Content-Type: application/octet-stream\r\n\r\n").encode() + content + b"\r\n"
            body += f"--{boundary}--\r\n".encode()
            request = urllib.request.Request(self.url + path, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        else:
            request = urllib.request.Request(self.url + path, urllib.parse.urlencode(data).encode())
        try:
            r = self.opener.open(request)
            return r.status, r.geturl(), r.read()
        except urllib.error.HTTPError as e:
            return e.code, path, e.read()

    @staticmethod
    def csrf(html: bytes) -> str:
        import re

        return re.search(rb'name="csrf" value="([0-9a-f]+)"', html).group(1).decode()

    def claim_and_login(self, code: str, password: str):
        _, page = self.get("/setup")
        self.post("/setup", {"csrf": self.csrf(page), "code": code, "password": password, "confirm": password})
        _, page = self.get("/login")
        status, where, _ = self.post("/login", {"csrf": self.csrf(page), "password": password})
        assert where.endswith("/dashboard") or where.endswith("/wizard/mailbox"), where


def test_backup_from_one_box_restored_on_a_replacement(facteur_factory, operator, tmp_path):
    """A box set up (operator, mailbox, certificate, account, contact) is
    backed up through its web admin; a replacement box fresh from the
    factory is restored from that file and works at once. A changed file is
    refused and changes nothing."""
    from test_web import Web

    old = factory_box(facteur_factory, tmp_path / "a", operator).start()
    old.wait_api()
    assert old.api("POST", "/v1/settings/operator", {"id": "test"})[0] == 200
    assert old.api("PUT", "/v1/settings", {"changes": {"mssante.mailbox": operator.env["CLIENT_MAILBOX"]}})[0] == 200
    assert old.api("POST", "/v1/credential/pkcs12",
                   {"pkcs12": p12(operator.env), "password": p12_password(operator.env)})[0] == 200
    assert old.api("POST", "/v1/accounts", {"user": "secretariat", "password": "Un mot de passe assez long"})[0] == 200
    restart(old)
    code, added = old.api("POST", "/v1/contacts", {"name": "Dr MARTIN Paul", "mssante": operator.env["DEMO_TO"],
                                                   "town": "Niort", "actor": "web:admin"})
    assert code == 200, added

    web_a = Web(tmp_path / "web-a", old.control_socket).start()
    try:
        a = Browser(web_a.url)
        a.claim_and_login(web_a.setup_code, "Phrase du cabinet A 2026")
        _, page = a.get("/settings/backup")
        status, _, file = a.post("/settings/backup", {"csrf": a.csrf(page), "password": "Phrase du cabinet A 2026"})
        assert status == 200 and file.startswith(b"FACTEUR-SAUVEGARDE"), file[:40]
        assert p12_password(operator.env).encode() not in file and b"secretariat" not in file
    finally:
        web_a.stop()

    new = factory_box(facteur_factory, tmp_path / "b", operator).start()
    assert new.wait_api()["configured"] is False
    web_b = Web(tmp_path / "web-b", new.control_socket).start()
    try:
        b = Browser(web_b.url)
        b.claim_and_login(web_b.setup_code, "Phrase du cabinet B 2026")
        _, page = b.get("/settings/backup")
        tampered = bytearray(file)
        tampered[-20] ^= 0x01
        status, _, body = b.post("/settings/restore", {"csrf": b.csrf(page), "restore_password": "Phrase du cabinet A 2026"},
                                 {"backup": ("sauvegarde.fcb", bytes(tampered))})
        assert status == 422 and "fichier abîmé".encode() in body, status
        assert new.api("GET", "/v1/status")[1]["configured"] is False
        status, where, _ = b.post("/settings/restore", {"csrf": b.csrf(page), "restore_password": "Phrase du cabinet A 2026"},
                                  {"backup": ("sauvegarde.fcb", file)})
        assert status == 200 and "/wizard/restarting" in where, (status, where)
    finally:
        web_b.stop()
    status = new.wait_api(timeout=30, configured=True)
    assert status["credential"]["kind"] == "software"
    code, result = new.api("POST", "/v1/connection-test")
    assert result["ok"], result
    client = smtplib.SMTP("127.0.0.1", new.port, timeout=30)
    client.starttls(context=__import__("ssl")._create_unverified_context())
    client.login("secretariat", "Un mot de passe assez long")
    client.quit()
    code, contacts = new.api("GET", "/v1/contacts")
    assert [c["display_name"] for c in contacts["contacts"]] == ["Dr MARTIN Paul"], contacts
    assert '"configuration_restored"' in new.cli("audit", "list", "--json").stdout


def test_network_change_rolls_back_unless_confirmed(facteur_factory, operator, tmp_path):
    """The LAN settings through the control API, against the real daemon
    and a stand-in networkctl (this machine's network must not change):
    a confirmed change stays; an unconfirmed one is undone after the wait;
    a daemon killed during the wait undoes it at its next start."""
    import json
    import time

    networkd = tmp_path / "networkd"
    calls = tmp_path / "networkctl.calls"
    script = tmp_path / "networkctl"
    script.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    script.chmod(0o755)
    f = facteur_factory(sections=f'[network]\ninterface = "eth9"\nnetworkd_dir = "{networkd}"\n'
                                 f'networkctl = "{script}"\nconfirm_timeout = 3\n').start()
    lan_file = networkd / "10-facteur-lan.network"
    fixed = {"mode": "static", "address": "192.168.1.20", "prefix": 24, "gateway": "192.168.1.1", "dns": ["192.168.1.1"]}

    code, body = f.api("POST", "/v1/network", {"settings": {**fixed, "gateway": "10.0.0.1"}})
    assert code == 422 and body["error"] == "invalid_network", body
    code, body = f.api("POST", "/v1/network", {"settings": {"mode": "dhcp"}, "actor": "web:admin"})
    assert code == 200, body
    assert "DHCP=yes" in lan_file.read_text()
    assert calls.read_text().splitlines() == ["reload", "reconfigure eth9"]
    assert f.api("POST", "/v1/network/confirm", {"token": "0" * 64})[0] == 404
    assert f.api("POST", "/v1/network/confirm", {"token": body["token"]})[0] == 200
    dhcp = lan_file.read_text()

    # Not confirmed: back to DHCP after the wait.
    code, body = f.api("POST", "/v1/network", {"settings": fixed})
    assert code == 200 and "Address=192.168.1.20/24" in lan_file.read_text()
    assert f.api("GET", "/v1/network")[1]["network"]["pending_seconds"] <= 3
    time.sleep(4.5)
    assert lan_file.read_text() == dhcp
    assert f.api("GET", "/v1/network")[1]["network"]["pending_seconds"] is None
    assert f.api("POST", "/v1/network/confirm", {"token": body["token"]})[0] == 404

    # Killed during the wait: undone at the next start.
    code, body = f.api("POST", "/v1/network", {"settings": fixed})
    assert code == 200
    f.kill9()
    f.start()
    assert lan_file.read_text() == dhcp
    listed = [json.loads(line)["action"] for line in f.cli("audit", "list", "--json").stdout.splitlines() if line.strip()]
    assert listed.count("network_rolled_back") == 2 and "network_confirmed" in listed, listed
