"""Pro Santé Connect end to end: Facteur logs in to a real OpenID provider
(oidc-provider on loopback, tests/psc/provider.mjs), with the CPS card in
the virtual reader (card simulator behind pcscd) or with the e-CPS app
(CIBA, approved or denied by the test), and sends and fetches mail at a
real operator (Postfix + Dovecot) that accepts only XOAUTH2/OAUTHBEARER
tokens it checks by introspection at the provider."""

import imaplib
import ssl
import sys
import time
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "psc"))
sys.path.insert(0, str(TESTS / "card"))

from card_fixture import PcscStack  # noqa: E402
from facteur_harness import Facteur, free_port, wait_delivered  # noqa: E402
from psc_fixture import start_with_operator  # noqa: E402

PRACTITIONER = "899700000001"
PIN = "1234"
SIMULATED_BOARD = '[board]\ndescription = "simulated"\n'


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    psc, op = start_with_operator(tmp_path_factory.mktemp("psc-world"), ciba_interval=1, ciba_ttl=60)
    yield psc, op
    op.stop()
    psc.stop()


@pytest.fixture(autouse=True)
def fresh_provider(world):
    psc, op = world
    if not psc.is_up():
        psc.start()
    psc.token_mode("normal")
    psc.set_ttl(access_token=300, refresh_token=3600, ciba=60)
    psc.reset_counters()
    op.clear(op.env["DEMO_TO"])
    yield


@pytest.fixture
def boxes(world, tmp_path):
    started = []

    def make(credential: str, **overrides) -> Facteur:
        overrides.setdefault("sections", SIMULATED_BOARD)
        f = Facteur(tmp_path / f"facteur{len(started)}", world[1].env, credential=credential, **overrides)
        started.append(f)
        return f.start()

    yield make
    for f in started:
        f.stop()


@pytest.fixture
def pcsc(tmp_path):
    stack = PcscStack(tmp_path / "pcsc").start_pcscd()
    yield stack
    stack.stop()


def ecps_credential(psc, national_id: bool = True) -> str:
    return (
        'kind = "psc"\nlogin = "ecps"\n'
        f'issuer = "{psc.issuer}"\nclient_id = "{psc.client_id}"\n'
        f'client_secret_file = "{psc.client_secret_file}"\ntrust_anchors = "{psc.ca_chain}"\n'
        + (f'national_id = "{PRACTITIONER}"\n' if national_id else "")
    )


def card_credential(psc, op) -> str:
    """Card login, the box authenticated to the provider by its own
    software certificate (tls_client_auth)."""
    e = op.env
    return (
        'kind = "psc"\nlogin = "card"\n'
        f'issuer = "{psc.issuer}"\nclient_id = "{psc.mtls_client_id}"\n'
        f'client_certificate = "{e["CLIENT_CERT"]}"\nclient_key = "{e["CLIENT_KEY"]}"\n'
        f'trust_anchors = "{psc.ca_chain}"\nintermediates = "{e["CARD_INTERMEDIATES"]}"\n'
    )


def psc_status(f) -> dict:
    status, body = f.api("GET", "/v1/psc")
    assert status == 200, body
    return body


def wait_psc(f, predicate, timeout: float = 30.0) -> dict:
    deadline = time.time() + timeout
    last = {}
    while time.time() < deadline:
        last = psc_status(f)
        if predicate(last):
            return last
        time.sleep(0.2)
    raise TimeoutError(f"Pro Santé Connect state never matched; last: {last}")


def message(op, subject: str, to: str = None) -> bytes:
    return (
        f"From: Cabinet Dupont <{op.env['CLIENT_MAILBOX']}>\r\n"
        f"To: {to or op.env['DEMO_TO']}\r\n"
        f"Subject: {subject}\r\n\r\nCompte rendu.\r\n"
    ).encode()


def send(f, op, *subjects, to: str = None):
    with f.smtp() as client:
        for s in subjects:
            client.sendmail(op.env["CLIENT_MAILBOX"], [to or op.env["DEMO_TO"]], message(op, s, to))


def pending(f) -> list:
    return [m for m in f.queue_list() if m["status"] == "pending"]


def unknown_practitioner(workdir: Path, pki: Path):
    """A card certificate from the test IGC-Santé chain for a national id
    the provider does not know: (DER certificate, PEM key)."""
    import subprocess

    workdir.mkdir(parents=True, exist_ok=True)
    key, csr, pem, der = (workdir / n for n in ("p3.key", "p3.csr", "p3.pem", "p3.der"))
    ext = workdir / "p3.ext"
    ext.write_text("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                   "extendedKeyUsage=clientAuth\n")
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa: E731
    run("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
        "-subj", "/C=FR/O=CABINET DUPONT TEST/OU=10000000001/CN=899700000099/SN=INCONNU/GN=PAUL")
    run("x509", "-req", "-in", csr, "-CA", pki / "ac-per.pem", "-CAkey", pki / "ac-per.key",
        "-CAcreateserial", "-days", "30", "-sha256", "-extfile", ext, "-out", pem)
    run("x509", "-in", pem, "-outform", "DER", "-out", der)
    return str(der), str(key)


def board_mode(f, expected: str = None, timeout: float = 5.0) -> str:
    """The board's mode; with `expected`, once it shows it (the board
    follows the daemon every second)."""
    deadline = time.time() + timeout
    while True:
        status, board = f.api("GET", "/v1/board")
        assert status == 200, board
        if expected is None or board["mode"] == expected or time.time() > deadline:
            return board["mode"]
        time.sleep(0.2)


def approve_next(psc, decision: str = "approve") -> dict:
    request = psc.wait_pending_ciba(PRACTITIONER)
    getattr(psc, decision)(request["id"])
    return request


def ecps_connected(f, psc) -> dict:
    status, answer = f.api("POST", "/v1/psc/login", {})
    assert status == 202, answer
    approve_next(psc)
    return wait_psc(f, lambda s: s["state"] == "connected")


def test_card_login_then_mail_goes_out_and_comes_in(world, boxes, pcsc, tmp_path):
    psc, op = world
    sim = pcsc.insert_card(op.env["PRACTITIONER_CERT_DER"], op.env["PRACTITIONER_KEY"])
    import_dir = tmp_path / "import"
    imap_port = free_port()
    f = boxes(
        card_credential(psc, op),
        inbound=f'[inbound]\nimport_dir = "{import_dir}"\npoll_interval = 2\n',
        imap=f'[imap]\nlisten = ["127.0.0.1:{imap_port}"]\nlisten_tls = []\n',
    )
    f.wait_card(lambda c: c["state"] == "locked")
    before = psc_status(f)
    assert before["login"] == "card" and before["state"] == "disconnected"
    assert "carte CPS" in before["message"]

    status, body = f.unlock(PIN)
    assert status == 200, body
    connected = wait_psc(f, lambda s: s["state"] == "connected")
    assert connected["national_id"] == PRACTITIONER
    assert connected["session_expires_at"] > time.time() + 3000
    logins = psc.counters()["card_login"]
    assert logins["ok"] == 1, logins

    # Out: to a correspondent; and to the practice's own mailbox, which
    # the inbound bridge then fetches over IMAP with XOAUTH2.
    send(f, op, "PSC carte sortant")
    assert wait_delivered(op, "PSC carte sortant", 1) == ["PSC carte sortant"]
    send(f, op, "PSC carte retour", to=op.env["CLIENT_MAILBOX"])
    deadline = time.time() + 60
    while time.time() < deadline:
        found = [p for p in import_dir.rglob("*") if p.is_file() and b"PSC carte retour" in p.read_bytes()]
        if found:
            break
        time.sleep(0.3)
    assert found, f"nothing imported; inbound: {f.api('GET', '/v1/status')[1]['inbound']}"

    # The practice's mail client through the box's local IMAP: the box
    # logs in upstream with the token, the client with its local account.
    client = imaplib.IMAP4("127.0.0.1", imap_port)
    try:
        client.starttls(ssl_context=ssl._create_unverified_context())
        client.login(Facteur.USER, Facteur.PASSWORD)
        typ, data = client.select("INBOX")
        assert typ == "OK", data
    finally:
        client.logout()

    # A logout holds: the box does not log in again by itself.
    status, out = f.api("POST", "/v1/psc/logout")
    assert status == 200 and out["state"] == "reconnect_needed", out
    time.sleep(3)
    assert psc_status(f)["state"] == "reconnect_needed"
    status, back = f.api("POST", "/v1/psc/login", {})
    assert status == 200 and back["state"] == "connected", back

    # One PIN entry for all of it; the operator saw XOAUTH2 only.
    assert sim.status()["verify_attempts"] == 1
    dovecot = (Path(op.env["OPERATOR_LOG_DIR"]) / "dovecot.log").read_text(errors="replace")
    assert "method=XOAUTH2" in dovecot
    assert psc.counters()["card_login"]["ok"] == 2


def test_card_login_refused_for_an_unknown_practitioner_is_clear_and_nothing_is_lost(
        world, boxes, pcsc, tmp_path):
    psc, op = world
    # A genuine card of the test chain, but for an id the provider does not know.
    der, key = unknown_practitioner(tmp_path / "p3", Path(op.env["OPERATOR_PKI"]))
    pcsc.insert_card(der, key)
    f = boxes(card_credential(psc, op))
    f.wait_card(lambda c: c["state"] == "locked")
    assert f.unlock(PIN)[0] == 200
    refused = wait_psc(f, lambda s: s["state"] == "reconnect_needed")
    assert refused["last_error"].startswith("connexion par carte refusée par Pro Santé Connect (access_denied")
    assert refused["message"] == "reconnexion Pro Santé Connect nécessaire"
    assert psc.counters()["card_login"]["refused"] >= 1
    send(f, op, "PSC carte refusee")
    time.sleep(2)
    assert len(pending(f)) == 1
    assert pending(f)[0]["attempts"] == 0
    assert board_mode(f, "psc_reconnect") == "psc_reconnect"
    # Asking again says why, at once.
    status, answer = f.api("POST", "/v1/psc/login", {})
    assert status == 403 and answer["error"] == "psc_login_refused", answer


def test_ecps_login_denied_then_expired_then_approved(world, boxes):
    psc, op = world
    psc.set_ttl(ciba=4)
    f = boxes(ecps_credential(psc))
    first = psc_status(f)
    assert first["state"] == "reconnect_needed"
    assert first["message"] == "reconnexion Pro Santé Connect nécessaire"
    assert board_mode(f, "psc_reconnect") == "psc_reconnect"

    # Mail waits, nothing is attempted or lost.
    send(f, op, "PSC ecps attente")
    time.sleep(1.5)
    waiting = pending(f)
    assert len(waiting) == 1 and waiting[0]["attempts"] == 0, waiting
    status, body = f.api("GET", "/v1/status")
    assert body["credential"]["kind"] == "psc"
    assert body["credential"]["reason"] == "reconnexion Pro Santé Connect nécessaire"

    # Denied on the phone.
    status, asked = f.api("POST", "/v1/psc/login", {})
    assert status == 202, asked
    binding = asked["approval"]["binding_message"]
    assert binding in asked["message"] and "e-CPS" in asked["message"]
    request = approve_next(psc, "deny")
    assert request["binding_message"] == binding
    denied = wait_psc(f, lambda s: s["state"] == "reconnect_needed" and s["last_error"])
    assert denied["last_error"] == "demande refusée dans l’application e-CPS"

    # Not answered in time.
    status, asked = f.api("POST", "/v1/psc/login", {})
    assert status == 202, asked
    assert psc_status(f)["state"] == "awaiting_approval"
    expired = wait_psc(f, lambda s: s["state"] == "reconnect_needed", timeout=20)
    assert expired["last_error"] == "demande expirée sans réponse"
    assert pending(f), "the message must still wait"

    # Approved: the session opens and the waiting message goes.
    connected = ecps_connected(f, psc)
    assert connected["national_id"] == PRACTITIONER
    assert wait_delivered(op, "PSC ecps attente", 1)
    assert board_mode(f, "ready") == "ready"
    counters = psc.counters()["ciba"]
    assert counters["denied"] == 1 and counters["approved"] == 1, counters


def test_cli_login_waits_for_the_approval(world, boxes):
    psc, op = world
    f = boxes(ecps_credential(psc, national_id=False))
    import subprocess
    import threading

    from facteur_harness import facteur_bin

    approver = threading.Thread(target=approve_next, args=(psc,))
    approver.start()
    done = subprocess.run(
        [facteur_bin(), "--config", str(f.config_path), "psc", "login", "--national-id", PRACTITIONER],
        capture_output=True, text=True, timeout=60,
    )
    approver.join()
    assert done.returncode == 0, done.stderr
    assert "validez la demande « FACTEUR-" in done.stdout
    assert "connecté à Pro Santé Connect" in done.stdout
    bad = f.cli("psc", "login", "--national-id", "12ab")
    assert bad.returncode != 0 and "national id" in bad.stderr


def test_tokens_end_during_a_long_run_nothing_lost_no_pin_asked_again(world, boxes, pcsc):
    psc, op = world
    psc.set_ttl(access_token=4)
    sim = pcsc.insert_card(op.env["PRACTITIONER_CERT_DER"], op.env["PRACTITIONER_KEY"])
    # A new operator session per message: each one logs in with the token
    # of the moment.
    f = boxes(card_credential(psc, op), messages_per_session=1, session_idle=1)
    f.wait_card(lambda c: c["state"] == "locked")
    assert f.unlock(PIN)[0] == 200
    wait_psc(f, lambda s: s["state"] == "connected")
    subjects = []
    started = time.time()
    while time.time() - started < 24:
        subject = f"PSC longue duree {len(subjects):02d}"
        send(f, op, subject)
        subjects.append(subject)
        # Twice during the run the provider ends the session (its maximum
        # life, a revocation): the card logs in again by itself.
        if len(subjects) in (7, 14):
            assert psc.revoke_refresh_tokens(PRACTITIONER) >= 1
        time.sleep(1.2)
    got = wait_delivered(op, "PSC longue duree", len(subjects), timeout=90)
    assert sorted(got) == subjects
    counters = psc.counters()
    refreshes = counters["token"].get("refresh_token", {})
    assert refreshes.get("ok", 0) >= 3, counters
    assert counters["card_login"]["ok"] >= 3, counters
    # No new PIN: the card stayed unlocked the whole time.
    assert sim.status()["verify_attempts"] == 1
    status = psc_status(f)
    assert status["renewals"] >= 3 and status["logins"] >= 3, status
    assert status["state"] == "connected"
    assert not pending(f)


def test_revoked_refresh_token_pauses_delivery_until_a_new_login(world, boxes):
    psc, op = world
    f = boxes(ecps_credential(psc), messages_per_session=1, session_idle=1)
    ecps_connected(f, psc)
    send(f, op, "PSC avant revocation")
    assert wait_delivered(op, "PSC avant revocation", 1)

    assert psc.revoke_refresh_tokens(PRACTITIONER) >= 1
    send(f, op, "PSC apres revocation")
    ended = wait_psc(f, lambda s: s["state"] == "reconnect_needed")
    assert ended["last_error"] == "la session Pro Santé Connect a pris fin"
    assert ended["refused_tokens"] >= 1
    time.sleep(1)
    assert len(pending(f)) == 1
    assert board_mode(f, "psc_reconnect") == "psc_reconnect"

    ecps_connected(f, psc)
    assert wait_delivered(op, "PSC apres revocation", 1)
    assert not pending(f)


def test_provider_down_then_back(world, boxes):
    psc, op = world
    psc.set_ttl(access_token=4)
    f = boxes(ecps_credential(psc),
              sections='[board]\ndescription = "simulated"\noperator_alarm_after = 3\n')
    ecps_connected(f, psc)
    psc.stop()
    try:
        send(f, op, "PSC fournisseur injoignable")
        down = wait_psc(f, lambda s: s["state"] == "unreachable", timeout=20)
        assert down["last_error"].startswith("Pro Santé Connect injoignable (")
        assert down["message"] == "Pro Santé Connect injoignable ; nouvel essai automatique"
        time.sleep(2)
        assert len(pending(f)) == 1
        # Mail stopped for want of a token: the board's alarm, as for the operator.
        assert board_mode(f, "operator_unreachable") == "operator_unreachable"
    finally:
        psc.start()
    # Back: the refresh token still holds, no new approval is needed.
    wait_psc(f, lambda s: s["state"] == "connected", timeout=90)
    assert wait_delivered(op, "PSC fournisseur injoignable", 1, timeout=90)
    assert board_mode(f, "ready") == "ready"
    assert psc.pending_ciba() == []


@pytest.mark.parametrize("mode", ["garbage", "unsigned"])
def test_tokens_the_operator_refuses_are_reported_and_nothing_is_lost(world, boxes, mode):
    psc, op = world
    psc.token_mode(mode)
    f = boxes(ecps_credential(psc))
    ecps_connected(f, psc)
    send(f, op, f"PSC jeton {mode}")
    refused = wait_psc(f, lambda s: s["refused_tokens"] >= 1)
    assert "jeton refusé par l’opérateur" in refused["last_error"]
    entry = f.wait_queue(lambda q: q and "token" in (q[0]["last_reply"] or ""))[0]
    assert entry["status"] == "pending"
    assert "operator refused the Pro Santé Connect token" in entry["last_reply"]
    # Real tokens again: the next renewal gets one, and the message goes.
    psc.token_mode("normal")
    assert wait_delivered(op, f"PSC jeton {mode}", 1, timeout=90)


def _reload(op, dovecot_mechanisms: str):
    """Sets the mechanisms the operator's Dovecot offers (Postfix asks
    Dovecot, so SMTP follows) and makes both masters read their files."""
    import os
    import signal

    base = Path(op.env["OPERATOR_DIR"])
    conf = base / "dovecot" / "dovecot.conf"
    text = conf.read_text()
    start = text.index("auth_mechanisms = ")
    end = text.index("\n", start)
    conf.write_text(text[:start] + f"auth_mechanisms = {dovecot_mechanisms}" + text[end:])
    for pid_file in (base / "dovecot" / "run" / "master.pid", base / "spool" / "postfix" / "pid" / "master.pid"):
        os.kill(int(pid_file.read_text().strip()), signal.SIGHUP)
    time.sleep(1.5)


def test_oauthbearer_when_the_operator_offers_only_it(world, boxes, tmp_path):
    psc, op = world
    logs = Path(op.env["OPERATOR_LOG_DIR"])
    postfix_before = (logs / "postfix.log").read_text(errors="replace").count("sasl_method=OAUTHBEARER")
    login = "Login: user=<cabinet.dupont@test.mssante.fr>, method=OAUTHBEARER"
    dovecot_before = (logs / "dovecot.log").read_text(errors="replace").count(login)
    _reload(op, "plain oauthbearer")
    try:
        import_dir = tmp_path / "import"
        imap_port = free_port()
        f = boxes(
            ecps_credential(psc),
            inbound=f'[inbound]\nimport_dir = "{import_dir}"\npoll_interval = 2\n',
            imap=f'[imap]\nlisten = ["127.0.0.1:{imap_port}"]\nlisten_tls = []\n',
        )
        ecps_connected(f, psc)
        send(f, op, "PSC oauthbearer sortant")
        assert wait_delivered(op, "PSC oauthbearer sortant", 1)
        send(f, op, "PSC oauthbearer retour", to=op.env["CLIENT_MAILBOX"])
        deadline = time.time() + 60
        found = []
        while time.time() < deadline and not found:
            found = [p for p in import_dir.rglob("*") if p.is_file() and b"PSC oauthbearer retour" in p.read_bytes()]
            time.sleep(0.3)
        assert found, f.api("GET", "/v1/status")[1]["inbound"]
        client = imaplib.IMAP4("127.0.0.1", imap_port)
        try:
            client.starttls(ssl_context=ssl._create_unverified_context())
            client.login(Facteur.USER, Facteur.PASSWORD)
            assert client.select("INBOX")[0] == "OK"
        finally:
            client.logout()
        assert psc_status(f)["refused_tokens"] == 0
        # Both messages went with OAUTHBEARER; the fetcher and the relay
        # logged in with it too.
        postfix = (logs / "postfix.log").read_text(errors="replace").count("sasl_method=OAUTHBEARER")
        dovecot = (logs / "dovecot.log").read_text(errors="replace").count(login)
        assert postfix - postfix_before >= 2
        assert dovecot - dovecot_before >= 2
    finally:
        _reload(op, "plain xoauth2 oauthbearer")
