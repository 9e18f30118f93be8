"""The CPS card as the practitioner's identity upstream, end to end:
real pcscd, vsmartcard's virtual reader, the card simulator, Facteur, and
the test operator (Postfix + Dovecot)."""

import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "card"))

from card_fixture import PcscStack  # noqa: E402
from facteur_harness import delivered_subjects, wait_delivered  # noqa: E402

PIN = "1234"


@pytest.fixture
def pcsc(tmp_path):
    stack = PcscStack(tmp_path / "pcsc").start_pcscd()
    yield stack
    stack.stop()


@pytest.fixture
def card_facteur(facteur_factory, operator):
    def make(**overrides):
        credential = f'kind = "card"\nintermediates = "{operator.env["CARD_INTERMEDIATES"]}"\n'
        return facteur_factory(credential=credential, **overrides).start()

    return make


def insert(pcsc, operator, **kw):
    env = operator.env
    return pcsc.insert_card(env["PRACTITIONER_CERT_DER"], env["PRACTITIONER_KEY"], **kw)


def message(subject: str, body: str = "Compte rendu de consultation.\r\n") -> bytes:
    return (
        f"From: Secretariat <cabinet.dupont@test.mssante.fr>\r\n"
        f"To: dr.martin@medecin.test.mssante.fr\r\n"
        f"Subject: {subject}\r\n\r\n{body}"
    ).encode()


def send(f, operator, subjects):
    with f.smtp() as client:
        for s in subjects:
            client.sendmail(operator.env["CLIENT_MAILBOX"], [operator.env["DEMO_TO"]], message(s))


def test_mail_goes_out_under_the_card_identity(pcsc, operator, card_facteur):
    operator.clear(operator.env["DEMO_TO"])
    sim = insert(pcsc, operator)
    f = card_facteur()
    card = f.wait_card(lambda c: c["state"] == "locked")
    assert card["holder"]["name"] == "JEAN DUPONT"
    assert card["holder"]["national_id"] == operator.env["PRACTITIONER_ID"]
    assert card["holder"]["profession"] == "Medecin"
    assert card["profile"] == "cps3"
    assert card["pin"] == {"left": 3, "max": 3}

    # Locked card: the message waits in the queue.
    send(f, operator, ["carte-1"])
    status = f.api("GET", "/v1/status")[1]
    assert status["delivery"]["state"] == "credential_unavailable"
    assert "verrouillée" in status["delivery"]["reason"]

    out = f.cli("card", "status")
    assert out.returncode == 0, out.stderr
    assert "holder:   JEAN DUPONT" in out.stdout
    assert "tries left: 3/3" in out.stdout
    assert "locked:   yes" in out.stdout

    out = f.cli("card", "unlock", input=PIN + "\n")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 PIN tries left" in out.stderr
    assert "déverrouillée" in out.stdout

    [subject] = wait_delivered(operator, "carte-", 1)
    raw = operator.fetch_all(operator.env["DEMO_TO"])[-1]
    # The operator saw the card's certificate (Postfix's Received line).
    assert operator.env["PRACTITIONER_ID"].encode() in raw, raw[:1500]
    assert b"TEST AC IGC-SANTE FORTE PERSONNES" in raw

    out = f.cli("card", "status")
    assert "locked:   no" in out.stdout
    assert sim.status()["signatures"] >= 1
    assert f.api("GET", "/v1/status")[1]["credential"]["signatures"] >= 1
    assert "1234" not in f.log()


def test_cps4_card_signs_with_pss(pcsc, operator, card_facteur):
    operator.clear(operator.env["DEMO_TO"])
    sim = insert(pcsc, operator, profile="cps4")
    f = card_facteur()
    f.wait_card(lambda c: c["state"] == "locked" and c["profile"] == "cps4")
    status, card = f.unlock(PIN)
    assert status == 200, card
    send(f, operator, ["cps4-1"])
    wait_delivered(operator, "cps4-", 1)
    assert sim.status()["signatures"] >= 1


def test_wrong_pin_is_never_retried_and_last_try_needs_confirmation(pcsc, operator, card_facteur):
    sim = insert(pcsc, operator)
    f = card_facteur()
    f.wait_card(lambda c: c["state"] == "locked")

    status, body = f.unlock("0000")
    assert status == 403 and body["error"] == "wrong_pin" and body["tries_left"] == 2
    time.sleep(2)  # nothing presents the PIN again by itself
    assert sim.status()["verify_attempts"] == 1
    card = f.card()
    assert card["state"] == "locked" and card["pin"]["left"] == 2

    out = f.cli("card", "unlock", input="9999\n")
    assert out.returncode != 0
    assert "wrong PIN (1 tries left)" in out.stderr
    assert sim.status()["verify_attempts"] == 2

    # One try left: refused without confirmation, by the CLI and the API.
    out = f.cli("card", "unlock", input=PIN + "\n")
    assert out.returncode != 0 and "--confirm-last-try" in out.stderr
    status, body = f.unlock(PIN)
    assert status == 409 and body["error"] == "confirm_last_try"
    assert sim.status()["verify_attempts"] == 2

    status, body = f.unlock("0000", confirm_last_try=True)
    assert status == 423 and body["error"] == "blocked"
    card = f.card()
    assert card["state"] == "blocked" and "PUK" in card["message"]
    assert sim.status()["blocked"]

    # Blocked: no further verification reaches the card.
    status, body = f.unlock(PIN, confirm_last_try=True)
    assert status == 423
    assert sim.status()["verify_attempts"] == 3
    assert "0000" not in f.log() and "9999" not in f.log()


def test_card_pulled_during_a_run_loses_nothing(pcsc, operator, card_facteur):
    operator.clear(operator.env["DEMO_TO"])
    sim = insert(pcsc, operator, sign_delay_ms=100)
    f = card_facteur(max_sessions=2)
    f.wait_card(lambda c: c["state"] == "locked")
    assert f.unlock(PIN)[0] == 200

    subjects = [f"run-{i:03d}" for i in range(200)]
    errors = []

    def practice_software():
        # A steady flow, as a practice sends through a morning.
        try:
            with f.smtp() as client:
                for s in subjects:
                    client.sendmail(operator.env["CLIENT_MAILBOX"], [operator.env["DEMO_TO"]], message(s))
                    time.sleep(0.02)
        except Exception as e:  # reported below
            errors.append(e)

    sender = threading.Thread(target=practice_software)
    sender.start()
    f.wait_queue(lambda e: sum(x["status"] == "delivered" for x in e) >= 20, timeout=60)
    sim.remove()
    f.wait_card(lambda c: c["state"] == "no_card")
    at_pull = f.queue_list()
    sender.join(60)
    assert not errors, errors
    time.sleep(1)
    stalled = f.queue_list()
    delivered_while_out = sum(x["status"] == "delivered" for x in stalled)
    status = f.api("GET", "/v1/status")[1]
    assert status["delivery"]["state"] == "credential_unavailable"
    assert len(stalled) == 200 and delivered_while_out < 200
    time.sleep(2)
    assert sum(x["status"] == "delivered" for x in f.queue_list()) == delivered_while_out, "sent while the card was out"

    sim.insert()
    f.wait_card(lambda c: c["state"] == "locked")
    assert f.unlock(PIN)[0] == 200
    f.wait_queue(lambda e: len(e) == 200 and all(x["status"] == "delivered" for x in e), timeout=120)
    got = wait_delivered(operator, "run-", 200, timeout=60)
    assert set(got) == set(subjects), set(subjects) - set(got)
    duplicates = len(got) - len(set(got))
    print(f"card pulled: 200 sent, {len(set(got))} delivered, {duplicates} duplicates; "
          f"at the pull {sum(x['status'] == 'delivered' for x in at_pull)} delivered and "
          f"{len(at_pull)} accepted, {200 - delivered_while_out} waiting for the card")


def test_pcscd_restart_and_reader_unplug_recover_without_restarting(pcsc, operator, card_facteur):
    operator.clear(operator.env["DEMO_TO"])
    sim = insert(pcsc, operator)
    f = card_facteur()
    f.wait_card(lambda c: c["state"] == "locked")
    assert f.unlock(PIN)[0] == 200
    pid = f.proc.pid

    pcsc.stop_pcscd()
    f.wait_card(lambda c: c["state"] == "pcsc_unavailable")
    pcsc.start_pcscd(with_reader=False)
    f.wait_card(lambda c: c["state"] == "no_reader")
    pcsc.stop_pcscd()
    pcsc.start_pcscd(with_reader=True)
    # The simulator reconnects to the new virtual reader by itself.
    card = f.wait_card(lambda c: c["state"] == "locked", timeout=30)
    assert card["holder"]["name"] == "JEAN DUPONT"
    assert f.unlock(PIN)[0] == 200
    send(f, operator, ["pcscd-1"])
    wait_delivered(operator, "pcscd-", 1)
    assert f.proc.pid == pid and f.proc.poll() is None
    assert sim.status()["signatures"] >= 1


@pytest.mark.parametrize(
    "profile, fault, state",
    [
        ("unknown", "none", "not_cps"),
        ("cps3", "truncated", "card_error"),
        ("cps3", "bad-sw", "not_cps"),
        ("cps3", "garbage-cert", "card_error"),
        ("cps4", "no-pkcs15", "card_error"),
    ],
)
def test_bad_cards_get_a_clear_state(pcsc, operator, card_facteur, profile, fault, state):
    insert(pcsc, operator, profile=profile, fault=fault)
    f = card_facteur()
    card = f.wait_card(lambda c: c["state"] == state)
    assert card["message"]
    status, body = f.unlock(PIN)
    assert status == 503 and body["error"] == "no_card"
    assert f.proc.poll() is None
    assert "panicked" not in f.log()


def test_a_different_card_needs_an_administrator(pcsc, operator, card_facteur):
    operator.clear(operator.env["DEMO_TO"])
    env = operator.env
    first = insert(pcsc, operator)
    f = card_facteur()
    f.wait_card(lambda c: c["state"] == "locked")
    assert f.unlock(PIN)[0] == 200
    assert f.card()["identity"] == "accepted"
    first.remove()
    first.stop()
    f.wait_card(lambda c: c["state"] == "no_card")

    pcsc.insert_card(env["PRACTITIONER2_CERT_DER"], env["PRACTITIONER2_KEY"], name="card2")
    f.wait_card(lambda c: c["state"] == "locked" and c["holder"]["name"] == "CLAIRE MARTIN")
    assert f.unlock(PIN)[0] == 200
    card = f.card()
    assert card["identity"] == "different"
    assert "administrateur" in card["message"]
    send(f, operator, ["autre-1"])
    time.sleep(2)
    assert delivered_subjects(operator, "autre-") == []
    assert f.api("GET", "/v1/status")[1]["delivery"]["state"] == "credential_unavailable"

    out = f.cli("card", "accept")
    assert out.returncode == 0, out.stderr
    assert "899700000002" in out.stdout
    wait_delivered(operator, "autre-", 1)
    assert b"899700000002" in operator.fetch_all(env["DEMO_TO"])[-1]


def test_signatures_per_thousand_messages_and_time_to_first_delivery(pcsc, operator, card_facteur):
    """Measured: a sustained run with a slow (300 ms) card and four
    practice clients sending at once."""
    operator.clear(operator.env["DEMO_TO"])
    sim = insert(pcsc, operator, sign_delay_ms=300)
    sim.remove()
    f = card_facteur(max_sessions=4)
    f.wait_card(lambda c: c["state"] == "no_card")
    send(f, operator, ["first-1"])

    t0 = time.monotonic()
    sim.insert()
    f.wait_card(lambda c: c["state"] == "locked", timeout=30)
    t_locked = time.monotonic()
    assert f.unlock(PIN)[0] == 200
    t_unlocked = time.monotonic()
    f.wait_queue(lambda e: e and e[0]["status"] == "delivered", timeout=30)
    t_first = time.monotonic()

    subjects = [f"bulk-{i:04d}" for i in range(1000)]
    clients = [threading.Thread(target=send, args=(f, operator, subjects[k::4])) for k in range(4)]
    for c in clients:
        c.start()
    for c in clients:
        c.join(600)
    f.wait_queue(lambda e: sum(x["status"] == "delivered" for x in e) == 1001, timeout=600)
    signatures = sim.status()["signatures"]
    sessions = f.api("GET", "/v1/status")[1]["delivery"]["sessions_opened"]
    print(f"card: {signatures} signatures for 1001 messages over {sessions} upstream sessions "
          f"(300 ms per signature, 4 clients, max 4 sessions; later handshakes resume the TLS session); "
          f"insertion to card read {1000 * (t_locked - t0):.0f} ms, unlock {1000 * (t_unlocked - t_locked):.0f} ms, "
          f"unlock to first delivery {1000 * (t_first - t_unlocked):.0f} ms, "
          f"insertion + PIN to first delivery {1000 * (t_first - t0):.0f} ms")
    assert f.card()["signatures"] == signatures
    assert 1 <= signatures <= 10


def test_mail_client_is_told_when_the_card_is_out(pcsc, operator, card_facteur):
    import imaplib
    import ssl

    from facteur_harness import free_port

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    port = free_port()
    sim = insert(pcsc, operator)
    f = card_facteur(imap=f'[imap]\nlisten = ["127.0.0.1:{port}"]\n')
    f.wait_card(lambda c: c["state"] == "locked")

    client = imaplib.IMAP4("127.0.0.1", port)
    client.starttls(ssl_context=ctx)
    with pytest.raises(imaplib.IMAP4.error, match="UNAVAILABLE"):
        client.login(f.USER, f.PASSWORD)
    client.logout()

    assert f.unlock(PIN)[0] == 200
    client = imaplib.IMAP4("127.0.0.1", port)
    client.starttls(ssl_context=ctx)
    client.login(f.USER, f.PASSWORD)
    typ, _ = client.select("INBOX")  # the card's holder reaches the practice mailbox
    assert typ == "OK"

    # Card pulled: the session opened in the practitioner's name ends.
    sim.remove()
    time.sleep(4)
    with pytest.raises((imaplib.IMAP4.abort, OSError)):
        client.noop()
        client.noop()
