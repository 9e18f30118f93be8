"""Fleet updates end to end: a real Facteur daemon, a real RAUC service
(Debian's, on a private D-Bus bus, file-backed A/B slots, noop
bootloader) and the DDI test server standing for the regional group's
hawkBit. Restarts are simulated: the reboot command writes a file, and the
test brings the box back up with a new boot id and RAUC booted from the
slot the bootloader would have chosen."""

import hashlib
import http.client
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "update"))

from ddi_server import DdiServer, wait_for  # noqa: E402
from rauc_fixture import COMPATIBLE, Rauc  # noqa: E402

TOKEN = "t0k3n-for-box-1"
CONTROLLER = "facteur-test"


def openssl(*argv):
    subprocess.run(["openssl", *argv], check=True, capture_output=True)


@pytest.fixture(scope="module")
def fleet_pki(tmp_path_factory):
    """The fleet server's TLS: a CA, a server certificate for 127.0.0.1, and
    a client certificate for the box (CN = its controller id)."""
    d = tmp_path_factory.mktemp("fleet-pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"),
            "-days", "30", "-subj", "/CN=Fleet test CA", "-addext", "basicConstraints=critical,CA:TRUE")
    for name, subject, ext in [
        ("server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
        ("client", f"/CN={CONTROLLER}", "extendedKeyUsage=clientAuth\n"),
    ]:
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / f"{name}.key"),
                "-out", str(d / f"{name}.csr"), "-subj", subject)
        (d / f"{name}.ext").write_text(ext)
        openssl("x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / "ca.pem"), "-CAkey", str(d / "ca.key"),
                "-CAcreateserial", "-out", str(d / f"{name}.pem"), "-days", "30", "-extfile", str(d / f"{name}.ext"))
    return d


@pytest.fixture
def rauc(tmp_path):
    r = Rauc(tmp_path / "rauc").start("A")
    yield r
    r.stop()


@pytest.fixture
def ddi(fleet_pki):
    server = DdiServer(fleet_pki / "server.pem", fleet_pki / "server.key", client_ca=fleet_pki / "ca.pem",
                       target_token=TOKEN, controller_id=CONTROLLER, sleep="00:00:01").start()
    yield server
    server.stop()


class Box:
    """Facteur with [update], plus what a restart changes (boot id)."""

    def __init__(self, factory, workdir: Path, rauc: Rauc, ddi=None, pki=None, extra="", auth="token", **overrides):
        workdir.mkdir(parents=True, exist_ok=True)
        self.boot_id = workdir / "boot_id"
        self.boot_id.write_text("boot-1\n")
        self.reboots = workdir / "reboots"
        token = workdir / "target-token"
        token.write_text(TOKEN + "\n")
        lines = [
            "[update]",
            f'rauc_bus = "{rauc.address}"',
            f'reboot_command = ["sh", "-c", "echo reboot >> {self.reboots}"]',
            f'boot_id_file = "{self.boot_id}"',
            "retry_delay = 1",
            "download_attempts = 3",
            "health_attempts = 2",
            "health_interval = 1",
            "timeout = 10",
        ]
        if ddi is not None:
            lines += [f'server = "{ddi.base_url}"', f'controller_id = "{CONTROLLER}"',
                      f'trust_anchors = "{pki / "ca.pem"}"']
            if auth == "token":
                lines.append(f'target_token_file = "{token}"')
            else:
                lines += [f'client_certificate = "{pki / "client.pem"}"', f'client_key = "{pki / "client.key"}"']
        self.f = factory(sections="\n".join(lines) + "\n" + extra, **overrides)

    def start(self):
        self.f.start()
        self.f.wait_api()
        return self

    def restart_after_reboot(self, rauc: Rauc, boot_slot: str, n: int):
        """What a reboot does: the daemon stops, the kernel has a new boot
        id, RAUC comes back booted from `boot_slot`."""
        self.f.stop()
        self.boot_id.write_text(f"boot-{n}\n")
        rauc.restart(boot_slot)
        return self.start()

    def status(self) -> dict:
        code, body = self.f.api("GET", "/v1/update")
        assert code == 200, body
        return body

    def rebooted(self) -> int:
        return len(self.reboots.read_text().splitlines()) if self.reboots.exists() else 0

    def upload(self, bundle: Path, truncate_at=None):
        """POST a bundle to the control API as the web admin does; with
        `truncate_at`, announce the full length and hang up early."""
        data = bundle.read_bytes()
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(120)
        sock.connect(str(self.f.control_socket))
        head = (f"POST /v1/update/bundle HTTP/1.1\r\nHost: facteur\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Length: {len(data)}\r\n\r\n").encode()
        if truncate_at is not None:
            sock.sendall(head + data[:truncate_at])
            sock.shutdown(socket.SHUT_WR)
            sock.close()
            return None
        conn = http.client.HTTPConnection("facteur")
        conn.sock = sock
        conn.putrequest("POST", "/v1/update/bundle", skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", "facteur")
        conn.putheader("Content-Type", "application/octet-stream")
        conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        response = conn.getresponse()
        body = json.loads(response.read() or b"null")
        conn.close()
        return response.status, body


def executions(ddi, action):
    return [(fb["status"]["execution"], fb["status"]["result"]["finished"]) for fb in ddi.feedback(action)]


def details(ddi, action):
    return " | ".join(d for fb in ddi.feedback(action) for d in fb["status"].get("details", []))


def closed(ddi, action):
    return [fb for fb in ddi.feedback(action) if fb["status"]["execution"] == "closed"]


def test_a_fleet_deployment_waits_for_a_quiet_moment_restarts_and_is_marked_good(
        facteur_factory, operator, rauc, ddi, fleet_pki, tmp_path):
    box = Box(facteur_factory, tmp_path / "box", rauc, ddi, fleet_pki).start()
    # The box reports its attributes on its first poll: version, board,
    # card, queue depth; nothing about patients.
    attrs = wait_for(lambda: ddi.config_data(), timeout=20)[0]["data"]
    assert attrs["version"] == "0.1.0" and attrs["queue_depth"] == "0" and attrs["card"] == "none", attrs
    assert set(attrs) == {"version", "board", "card", "queue_depth"}, attrs
    assert all(r.auth == "token" for r in ddi.requests() if r.auth), ddi.requests()

    # A message waits for an operator that is down: the queue is not empty.
    operator.stop_smtp()
    try:
        with box.f.smtp() as client:
            client.sendmail(operator.env["CLIENT_MAILBOX"], [operator.env["DEMO_TO"]],
                            b"Subject: pending during update\r\n\r\nbody\r\n")
        bundle = rauc.bundle("0.2.0")
        ddi.add_deployment("7", bundle, "0.2.0", filename="facteur-0.2.0.raucb")
        wait_for(lambda: box.status()["state"] == "waiting_restart", timeout=60,
                 message=f"not installed: {box.status()} {executions(ddi, '7')}\n{box.f.log()[-3000:]}")
        assert rauc.slot_holds("B", bundle), "the other slot was not written"
        assert rauc.slot_blank("A"), "the running slot was touched"
        ex = executions(ddi, "7")
        assert ex[0] == ("proceeding", "none") and ("downloaded", "none") in ex, ex
        assert ex[-1] == ("proceeding", "none") and "installée" in ddi.feedback("7")[-1]["status"]["details"][0]
        assert not closed(ddi, "7")
        # Not restarted while the message is queued (outside any window).
        time.sleep(4)
        assert box.rebooted() == 0
    finally:
        operator.start_smtp()
    # The operator is back, the message goes, the queue is empty: restart.
    wait_for(lambda: box.rebooted() == 1, timeout=60, message=f"no restart: {box.status()}")
    assert box.f.queue_list() == [] or all(e["status"] != "pending" for e in box.f.queue_list())

    # The box comes back on slot B: checked, marked good, reported.
    box.restart_after_reboot(rauc, "B", 2)
    wait_for(lambda: closed(ddi, "7"), timeout=60, message=f"{box.status()}\n{box.f.log()[-3000:]}")
    final = closed(ddi, "7")[-1]["status"]
    assert final["result"]["finished"] == "success", final
    assert "0.2.0" in final["details"][0]
    assert ddi.action_status("7") == "finished"
    assert "marked slot rootfs.1 as good" in rauc.log()
    status = box.status()
    assert status["state"] == "idle" and status["last_result"]["ok"] is True, status
    assert not (box.f.data_dir / "update" / "pending.json").exists()
    assert box.rebooted() == 1


def test_a_box_that_falls_back_reports_the_failure_on_the_next_start(
        facteur_factory, rauc, ddi, fleet_pki, tmp_path):
    box = Box(facteur_factory, tmp_path / "box", rauc, ddi, fleet_pki).start()
    ddi.add_deployment("9", rauc.bundle("0.3.0"), "0.3.0")
    wait_for(lambda: box.rebooted() == 1, timeout=60, message=f"{box.status()} {executions(ddi, '9')}")
    # The new system never came up: the bootloader took the box back to A.
    box.restart_after_reboot(rauc, "A", 2)
    wait_for(lambda: closed(ddi, "9"), timeout=30, message=box.f.log()[-3000:])
    final = closed(ddi, "9")[-1]["status"]
    assert final["result"]["finished"] == "failure"
    assert "version précédente" in final["details"][0] and "0.3.0" in final["details"][0], final
    assert box.status()["last_result"]["ok"] is False
    assert "marked slot" not in rauc.log()


def test_a_cut_download_resumes_with_a_range_request(facteur_factory, rauc, ddi, fleet_pki, tmp_path):
    box = Box(facteur_factory, tmp_path / "box", rauc, ddi, fleet_pki).start()
    bundle = rauc.bundle("0.2.0")
    ddi.fail_downloads(1, "truncate")
    ddi.add_deployment("11", bundle, "0.2.0")
    wait_for(lambda: box.status()["state"] in ("waiting_restart", "restarting") or box.rebooted(), timeout=60,
             message=f"{box.status()} {details(ddi, '11')}")
    downloads = [r for r in ddi.requests() if r.path.endswith(".raucb")]
    assert len(downloads) == 2, downloads
    assert "Range" not in downloads[0].headers
    assert downloads[1].headers.get("Range", "").startswith("bytes="), downloads[1].headers
    assert int(downloads[1].headers["Range"][6:-1]) > 0
    assert "reprise" in details(ddi, "11")
    assert rauc.slot_holds("B", bundle)


def test_bad_downloads_and_garbage_are_reported_and_nothing_is_installed(
        facteur_factory, rauc, ddi, fleet_pki, tmp_path):
    box = Box(facteur_factory, tmp_path / "box", rauc, ddi, fleet_pki).start()
    # 404 on the artifact: one request, no retry (metered links).
    ddi.fail_downloads(1, "404")
    ddi.add_deployment("21", rauc.bundle("0.2.0"), "0.2.0")
    wait_for(lambda: closed(ddi, "21"), timeout=30, message=details(ddi, "21"))
    assert closed(ddi, "21")[-1]["status"]["result"]["finished"] == "failure"
    assert "404" in details(ddi, "21")
    assert len([r for r in ddi.requests() if r.path.endswith(".raucb")]) == 1

    # A cut transfer every time: capped retries, then failure.
    ddi.fail_downloads(3, "500")
    ddi.add_deployment("22", rauc.bundle("0.2.0"), "0.2.0")
    wait_for(lambda: closed(ddi, "22"), timeout=60, message=details(ddi, "22"))
    assert "3 tentatives" in details(ddi, "22")

    # The server's hash does not match the file (a corrupted artifact).
    with ddi._lock:
        ddi.add_deployment("23", rauc.bundle("0.2.0"), "0.2.0")
        ddi._actions["23"].sha256 = hashlib.sha256(b"something else").hexdigest()
    wait_for(lambda: closed(ddi, "23"), timeout=30, message=details(ddi, "23"))
    assert "SHA-256" in details(ddi, "23"), details(ddi, "23")

    # A deployment the box cannot read.
    ddi.garbage_deployment(1)
    ddi.add_deployment("24", rauc.bundle("0.2.0"), "0.2.0")
    wait_for(lambda: closed(ddi, "24"), timeout=30, message=details(ddi, "24"))
    assert "JSON" in details(ddi, "24"), details(ddi, "24")

    # A garbage poll is shown to the web admin.
    ddi.garbage_next_polls(3)
    wait_for(lambda: (box.status().get("server_error") or "").find("JSON") >= 0, timeout=20)

    assert rauc.slot_blank("B") and rauc.slot_blank("A")
    assert box.rebooted() == 0


def test_a_window_delays_the_installation_and_a_cancel_deletes_the_download(
        facteur_factory, rauc, ddi, fleet_pki, tmp_path):
    box = Box(facteur_factory, tmp_path / "box", rauc, ddi, fleet_pki).start()
    ddi.add_deployment("31", rauc.bundle("0.2.0"), "0.2.0", maintenance="unavailable")
    wait_for(lambda: ("scheduled", "none") in executions(ddi, "31"), timeout=30, message=details(ddi, "31"))
    assert ("downloaded", "none") in executions(ddi, "31")
    time.sleep(3)
    assert rauc.slot_blank("B")
    assert box.status()["state"] == "waiting_window"
    assert (box.f.data_dir / "update" / "31.raucb").exists()
    cancel_id = ddi.cancel("31")
    wait_for(lambda: ddi.action_status("31") == "cancelled", timeout=30)
    fb = ddi.cancel_feedback(cancel_id)[-1]["status"]
    assert fb["execution"] == "closed" and fb["result"]["finished"] == "success", fb
    assert not (box.f.data_dir / "update" / "31.raucb").exists()
    assert rauc.slot_blank("B")

    # The window opens: the next deployment installs.
    bundle = rauc.bundle("0.2.0")
    ddi.add_deployment("32", bundle, "0.2.0", maintenance="unavailable")
    wait_for(lambda: ("scheduled", "none") in executions(ddi, "32"), timeout=30)
    assert rauc.slot_blank("B")
    ddi.set_maintenance("32", "available")
    wait_for(lambda: rauc.slot_holds("B", bundle), timeout=60, message=details(ddi, "32"))


def test_client_certificate_authentication(facteur_factory, rauc, fleet_pki, tmp_path):
    server = DdiServer(fleet_pki / "server.pem", fleet_pki / "server.key", client_ca=fleet_pki / "ca.pem",
                       target_token=None, controller_id=CONTROLLER, sleep="00:00:01", match_cert_cn=True).start()
    try:
        Box(facteur_factory, tmp_path / "box", rauc, server, fleet_pki, auth="certificate").start()
        wait_for(lambda: server.config_data(), timeout=20)
        assert {r.auth for r in server.requests()} == {"certificate"}
    finally:
        server.stop()


def test_hand_uploads_go_through_the_same_checks(facteur_factory, rauc, tmp_path):
    box = Box(facteur_factory, tmp_path / "box", rauc).start()
    assert box.status()["fleet_server"] is False

    cases = [
        (rauc.bundle("0.2.0", tamper=True), "signature"),
        (rauc.bundle("0.2.0", signer="other"), "signature"),
        (rauc.bundle("0.2.0", compatible="another-box"), "another-box"),
        (rauc.bundle("0.0.9"), "plus ancienne"),
        (rauc.bundle("0.1.0"), "déjà en service"),
    ]
    for bundle, reason in cases:
        code, body = box.upload(bundle)
        assert code == 422, (bundle, body)
        assert reason in body["message"], (reason, body)
        assert box.status()["last_result"]["ok"] is False
    # A transfer cut in the middle.
    box.upload(rauc.bundle("0.2.0"), truncate_at=100_000)
    wait_for(lambda: "interrompu" in (box.status().get("last_result") or {}).get("message", ""), timeout=10,
             message=str(box.status()))
    assert rauc.slot_blank("B") and rauc.slot_blank("A")
    assert not (box.f.data_dir / "update" / "upload.raucb").exists()

    # Signed by the next CA (key rotation): accepted.
    good = rauc.bundle("0.2.0", signer="next")
    code, body = box.upload(good)
    assert code == 200, body
    assert body["version"] == "0.2.0"
    assert rauc.slot_holds("B", good)
    assert box.status()["state"] in ("waiting_restart", "restarting")
    # A second one while the first waits for its restart: refused.
    code, body = box.upload(rauc.bundle("0.2.1"))
    assert code == 422 and "attend le redémarrage" in body["message"], body


def test_the_web_admin_uploads_a_bundle_in_a_browser(facteur_factory, rauc, tmp_path):
    from test_web import Web, ensure_node_modules, run_spec

    ensure_node_modules()
    box = Box(facteur_factory, tmp_path / "box", rauc).start()
    bad = rauc.bundle("0.2.0", signer="other")
    good = rauc.bundle("0.2.0")
    web = Web(tmp_path / "web", box.f.control_socket).start()
    try:
        result = run_spec("update.spec.mjs", web,
                          env={"FACTEUR_BAD_BUNDLE": str(bad), "FACTEUR_GOOD_BUNDLE": str(good)})
    finally:
        web.stop()
    assert all(v == [] for v in result["axe"].values()), result["axe"]
    assert rauc.slot_holds("B", good)
    assert box.status()["state"] in ("waiting_restart", "restarting")
    listed = box.f.cli("audit", "list", "--json", "--limit", "1000")
    actions = [json.loads(line)["action"] for line in listed.stdout.splitlines() if line.strip()]
    assert "update_installed" in actions and "update_uploaded" in actions, actions
