"""« Pro Santé Connect » in the web admin end to end: the test provider
(oidc-provider on loopback, tests/psc/provider.mjs) and the test operator
in oauth2 mode, a Facteur daemon logging in with the e-CPS app (CIBA),
facteur-web on loopback, and a real browser (tests/web/psc.spec.mjs). The
spec asks for the login from the page; this test plays the practitioner's
phone (approves, then denies, the request whose words the page shows) and
stops and restarts the provider when asked. The spec then switches the
mode of connection to the card and back to e-CPS; the daemon restarts in
place each time."""

import json
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "psc"))

from facteur_harness import Facteur  # noqa: E402
from psc_fixture import start_with_operator  # noqa: E402

PRACTITIONER = "899700000001"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    # Polled every second and a minute to answer: the page follows quickly.
    psc, op = start_with_operator(tmp_path_factory.mktemp("psc-web"), ciba_interval=1, ciba_ttl=60)
    yield psc, op
    op.stop()
    psc.stop()


def ecps_credential(psc) -> str:
    return (
        'kind = "psc"\nlogin = "ecps"\n'
        f'issuer = "{psc.issuer}"\nclient_id = "{psc.client_id}"\n'
        f'client_secret_file = "{psc.client_secret_file}"\ntrust_anchors = "{psc.ca_chain}"\n'
        f'national_id = "{PRACTITIONER}"\n'
    )


def test_the_practitioner_connects_with_e_cps_from_the_web_admin(world, tmp_path):
    from test_web import Web, ensure_node_modules, run_spec

    ensure_node_modules()
    psc, op = world
    f = Facteur(tmp_path / "facteur", op.env, credential=ecps_credential(psc)).start()
    decided = []

    def answer(what: str) -> str:
        kind, _, value = what.partition(" ")
        if kind in ("approve", "deny"):
            pending = psc.wait_pending_ciba(PRACTITIONER)
            # The words the page showed are those on the phone.
            assert pending["binding_message"] == value, (pending, value)
            (psc.approve if kind == "approve" else psc.deny)(pending["id"])
            decided.append(kind)
            return pending["id"]
        if kind == "provider-down":
            psc.stop()
            return "down"
        if kind == "provider-up":
            psc.start()
            return "up"
        raise AssertionError(f"unknown request {what}")

    try:
        web = Web(tmp_path / "web", f.control_socket).start()
        try:
            result = run_spec("psc.spec.mjs", web, answer, env={"FACTEUR_PRACTITIONER": PRACTITIONER})
        finally:
            web.stop()
            if not psc.is_up():
                psc.start()
        assert decided == ["approve", "deny"], decided
        assert set(result["axe"]) == {
            "dashboard", "psc", "psc-waiting", "psc-connected", "psc-logout", "psc-refused", "psc-unknown",
            "psc-down", "psc-mode", "psc-card",
        }, result["axe"]
        assert all(v == [] for v in result["axe"].values()), result["axe"]
        for shot in result["screenshots"]:
            assert Path(shot).stat().st_size > 0
        ciba = psc.counters()["ciba"]
        assert ciba["approved"] >= 1 and ciba["denied"] >= 1, ciba
        # Who asked is in the daemon's audit log, beside what the daemon did.
        listed = f.cli("audit", "list", "--json", "--limit", "1000")
        entries = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
        asked = [e["action"] for e in entries if e["actor"] == "web:admin"]
        assert asked.count("psc_login_requested") == 4 and "psc_logout_requested" in asked, asked
        done = {e["action"] for e in entries}
        assert {"psc.login", "psc.login_refused", "psc.logout"} <= done, done
        # The two changes of mode, each followed by its restart.
        changed = [(e["actor"], e.get("detail")) for e in entries if e["action"] == "credential_changed"]
        assert changed == [("web:admin", "psc card"), ("web:admin", "psc ecps")], changed
        assert asked.count("restart_requested") == 2, asked
        # The daemon runs e-CPS again, with the identifier it had.
        status, body = f.api("GET", "/v1/psc")
        assert status == 200 and body["login"] == "ecps" and body["national_id"] == PRACTITIONER, body
    finally:
        f.stop()
