"""The box's face end to end: the simulated board driven by a real daemon
(real pcscd, vsmartcard's virtual reader, the card simulator, the test
operator), its button pressed from the command line, the factory reset,
and the watchdogs (a file standing for /dev/watchdog, a datagram socket
standing for systemd)."""

import json
import os
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "card"))

from test_card import PIN, card_facteur, insert, message, pcsc  # noqa: E402,F401  (fixtures)
from test_settings import factory_box, p12, p12_password  # noqa: E402
from test_web import Web  # noqa: E402

SIMULATED = '[board]\ndescription = "simulated"\noperator_alarm_after = 3\nhealth_interval = 1\n'


def board(f) -> dict:
    status, body = f.api("GET", "/v1/board")
    assert status == 200, body
    return body


def wait_mode(f, mode: str, timeout: float = 20.0) -> dict:
    deadline = time.time() + timeout
    seen = []
    while time.time() < deadline:
        b = board(f)
        if not seen or seen[-1] != b["mode"]:
            seen.append(b["mode"])
        if b["mode"] == mode:
            return b
        time.sleep(0.1)
    raise TimeoutError(f"board never showed {mode}; modes seen: {seen}\n{f.log()[-2000:]}")


def audit_actions(f) -> list:
    listed = f.cli("audit", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    entries = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
    return [(e["actor"], e["action"]) for e in entries]


def test_the_led_follows_the_card_and_the_operator(pcsc, operator, card_facteur):
    # No card in the reader: amber, slow blink.
    f = card_facteur(sections=SIMULATED)
    b = wait_mode(f, "card_needed")
    assert b["light"] == "orange clignotant lent" and b["simulated"] is True
    assert b["screen"]["lines"][0] == "Facteur"

    # The card inserted but locked: still amber; unlocked: green.
    insert(pcsc, operator)
    f.wait_card(lambda c: c["state"] == "locked")
    assert board(f)["mode"] == "card_needed"
    status, body = f.unlock(PIN)
    assert status == 200, body
    b = wait_mode(f, "ready", timeout=5)
    assert b["light"] == "vert fixe" and b["color"] == "#00ff00", b

    # The operator stops: delivery fails, and after operator_alarm_after
    # (3 s) the LED turns red with two beeps; not before.
    operator.stop_smtp()
    try:
        with f.smtp() as client:
            client.sendmail(operator.env["CLIENT_MAILBOX"], [operator.env["DEMO_TO"]], message("board-red"))
        f.wait_queue(lambda entries: any(e["attempts"] >= 1 for e in entries), timeout=30)
        first_failure = time.time()
        assert board(f)["mode"] == "ready"
        b = wait_mode(f, "operator_unreachable", timeout=30)
        assert time.time() - first_failure >= 1.5
        assert b["light"] == "rouge clignotant rapide"
        assert "attention" in b["tunes"]
    finally:
        operator.start_smtp()
    # Back: the message goes out, the LED is green again.
    f.wait_queue(lambda entries: all(e["status"] == "delivered" for e in entries), timeout=60)
    wait_mode(f, "ready", timeout=10)

    # The CLI shows the same.
    shown = f.cli("board")
    assert shown.returncode == 0, shown.stderr
    assert "vert fixe" in shown.stdout and "ready" in shown.stdout, shown.stdout

    # Every change of the LED is logged, for the simulated board's user.
    assert f.stop() == 0
    assert "board: Prêt" in f.log() and "board: Carte CPS absente ou code PIN à saisir" in f.log()


def test_the_button_identifies_and_retries(pcsc, operator, card_facteur):
    insert(pcsc, operator)
    f = card_facteur(sections=SIMULATED)
    f.wait_card(lambda c: c["state"] == "locked")
    assert f.unlock(PIN)[0] == 200
    wait_mode(f, "ready")

    # Short press: identify (white blink, one beep), the address shown.
    f.api("PUT", "/v1/board/info", {"address": "https://facteur.local", "setup_code": None})
    pressed = f.cli("board", "press")
    assert pressed.returncode == 0, pressed.stderr
    b = wait_mode(f, "identify", timeout=5)
    assert b["light"] == "blanc clignotant" and "beep" in b["tunes"]
    assert "https://facteur.local" in b["screen"]["lines"], b["screen"]
    assert ("button", "board_identify") in audit_actions(f)

    # Identify from the CLI (the web admin's button calls the same API).
    assert f.cli("board", "identify").returncode == 0
    assert ("cli", "board_identify") in audit_actions(f)

    # Long press (4 s): retry now, no reset.
    assert f.cli("board", "press", "--hold", "4").returncode == 0
    deadline = time.time() + 15
    while ("button", "board_retry_now") not in audit_actions(f):
        assert time.time() < deadline, f.log()[-2000:]
        time.sleep(0.2)
    assert board(f)["mode"] in ("identify", "ready")

    # Bad requests are refused with a reason.
    code, body = f.api("POST", "/v1/board/press", {"hold_ms": 60000})
    assert code == 400 and body["error"] == "bad_hold"
    code, body = f.api("PUT", "/v1/board/info", {"address": "x" * 200})
    assert code == 400 and body["error"] == "bad_info"
    code, body = f.api("POST", "/v1/factory-reset", {})
    assert code == 400 and body["error"] == "confirm_required"
    bad = f.cli("board", "press", "--hold", "60")
    assert bad.returncode != 0 and "--hold" in bad.stderr


def test_factory_reset_with_the_button_keeps_only_the_factory_identity(facteur_factory, operator, tmp_path):
    f = factory_box(facteur_factory, tmp_path, operator, sections=SIMULATED).start()
    status = f.wait_api(configured=False)
    first_installation = status["installation"]
    assert len(first_installation) == 32
    wait_mode(f, "setup_needed")
    (f.data_dir / "factory").mkdir(exist_ok=True)
    (f.data_dir / "factory" / "serial").write_text("FX-TEST-0001\n")

    # Set up as the wizard does, then restart configured.
    env = operator.env
    assert f.api("PUT", "/v1/settings", {"changes": {"mssante.mailbox": env["CLIENT_MAILBOX"]}})[0] == 200
    code, body = f.api("POST", "/v1/credential/pkcs12", {"pkcs12": p12(env), "password": p12_password(env)})
    assert code == 200, body
    code, body = f.api("POST", "/v1/accounts", {"user": "accueil", "password": "Un mot de passe assez long"})
    assert code == 200, body
    assert f.api("POST", "/v1/restart", {"actor": "web:admin"})[0] == 202
    time.sleep(1.0)
    status = f.wait_api(timeout=30, configured=True)
    assert status["installation"] == first_installation
    pid = f.proc.pid

    # Ten seconds on the button: armed (red/white, three beeps), then a
    # short press confirms.
    assert f.cli("board", "press", "--hold", "10.5").returncode == 0
    b = wait_mode(f, "reset_confirm", timeout=15)
    assert b["light"] == "rouge et blanc alternés" and "confirm" in b["tunes"]
    assert "Tout effacer ?" in b["screen"]["lines"]
    time.sleep(0.8)
    assert f.cli("board", "press").returncode == 0

    # The same process comes back, unconfigured, with a new installation.
    time.sleep(1.0)
    status = f.wait_api(timeout=30, configured=False)
    assert f.proc.pid == pid and f.proc.poll() is None
    assert status["installation"] != first_installation
    assert status["missing"] == ["mssante.mailbox", "credential"]
    left = sorted(p.name for p in f.data_dir.iterdir())
    assert "settings.toml" not in left and "credential" not in left and "queue" not in left, left
    assert (f.data_dir / "factory" / "serial").read_text() == "FX-TEST-0001\n"
    assert not (f.data_dir / ".factory-reset").exists()
    assert "factory reset done" in f.log()
    wait_mode(f, "setup_needed")


def test_factory_reset_through_the_api_unclaims_the_web_admin(facteur_factory, operator, tmp_path):
    f = factory_box(facteur_factory, tmp_path, operator, sections=SIMULATED).start()
    first = f.wait_api(configured=False)["installation"]
    web = Web(tmp_path / "web", f.control_socket).start()
    try:
        # Claimed (as the setup page does), the installation noted.
        state = tmp_path / "web" / "state"
        deadline = time.time() + 15
        while not (state / "installation-id").exists():
            assert time.time() < deadline, web.log()[-2000:]
            time.sleep(0.2)
        assert (state / "installation-id").read_text() == first
        (state / "admin.json").write_text(json.dumps({"password_hash": "$argon2id$v=19$m=19456,t=2,p=1$x$y", "claimed_at": 1}))
        (state / "setup-code").unlink()
        web.stop()
        web = Web(tmp_path / "web", f.control_socket).start()
        assert web.setup_code is None

        code, body = f.api("POST", "/v1/factory-reset", {"confirm": True, "actor": "web:admin"})
        assert code == 202, body
        time.sleep(1.0)
        second = f.wait_api(timeout=30, configured=False)["installation"]
        assert second != first
        # The web admin notices within a few seconds: claim forgotten, a
        # new setup code on its console and on the box's display.
        deadline = time.time() + 20
        while (state / "admin.json").exists() or "facteur-web: setup code" not in web.log():
            assert time.time() < deadline, web.log()[-2000:]
            time.sleep(0.2)
        code_line = [line for line in web.log().splitlines() if line.startswith("facteur-web: setup code")][-1]
        new_code = code_line.rsplit(" ", 1)[1]
        deadline = time.time() + 15
        while board(f)["info"]["setup_code"] != new_code:
            assert time.time() < deadline, board(f)
            time.sleep(0.2)
        assert f"Code : {new_code}" in board(f)["screen"]["lines"]
    finally:
        web.stop()


def test_the_watchdogs_are_fed_while_healthy_and_not_when_a_part_hangs(pcsc, operator, card_facteur, tmp_path):
    """A regular file stands for /dev/watchdog (each feed writes "k"), a
    datagram socket for systemd's NOTIFY_SOCKET. Freezing pcscd hangs the
    card service's thread: the health loop stops feeding both."""
    dog = tmp_path / "watchdog"
    dog.write_bytes(b"")
    description = tmp_path / "board.toml"
    description.write_text(f'name = "test carrier"\n[watchdog]\ndevice = "{dog}"\ntimeout_secs = 10\n')
    notify_path = tmp_path / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.settimeout(0.2)
    insert(pcsc, operator)
    f = card_facteur(sections=f'[board]\ndescription = "{description}"\nhealth_interval = 1\n')
    f.stop()
    f.start(env={"NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "4000000"}, watchdog_pid=True)
    f.wait_card(lambda c: c["state"] == "locked")

    def messages(seconds: float) -> list:
        got = []
        end = time.time() + seconds
        while time.time() < end:
            try:
                got.append(notify.recv(4096).decode().strip())
            except socket.timeout:
                pass
        return got

    first = messages(4)
    assert "READY=1" in first, first
    assert first.count("WATCHDOG=1") >= 2, first
    size = dog.stat().st_size
    time.sleep(3)
    assert dog.stat().st_size >= size + 2
    assert set(dog.read_bytes()) == {ord("k")}

    # pcscd frozen: the card service's thread hangs in PC/SC.
    os.kill(pcsc.pcscd.pid, 19)  # SIGSTOP
    try:
        messages(3)  # the round under way may still pass
        size = dog.stat().st_size
        during = messages(5)
        assert "WATCHDOG=1" not in during, during
        assert dog.stat().st_size == size
        assert "health check failed" in f.log() and "card service" in f.log()
    finally:
        os.kill(pcsc.pcscd.pid, 18)  # SIGCONT
    after = messages(6)
    assert "WATCHDOG=1" in after, after
    assert dog.stat().st_size > size

    # An orderly stop disarms the watchdog ("V", the magic close).
    assert f.stop() == 0
    assert dog.read_bytes().endswith(b"V")
    notify.close()
