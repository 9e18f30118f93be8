"""The test Pro Santé Connect and the test operator in oauth2 mode behave
as the box's tests assume: card login by TLS client certificate, e-CPS
login by CIBA, both client authentications, refresh and revocation, and an
operator that takes only live tokens naming the right mailbox over XOAUTH2
and OAUTHBEARER.

Real clients only (ssl, http.client, smtplib, imaplib). One provider and
one operator serve the whole module; tests that need expiry shorten the
lifetimes for what they issue and put them back. Run with:
/usr/bin/python3 -m pytest -q tests/psc
"""

import base64
import imaplib
import json
import smtplib
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "operator"))

from operator_fixture import oauthbearer, xoauth2  # noqa: E402
from psc_fixture import (  # noqa: E402
    CIBA_GRANT,
    MAILBOX,
    PRACTITIONER2_ID,
    PRACTITIONER_ID,
    AuthorizationError,
    TokenError,
    start_with_operator,
)

OTHER_MAILBOX = "dr.martin@medecin.test.mssante.fr"
DEFAULT_TTL = {"access_token": 300, "refresh_token": 3600, "ciba": 600}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def peers(tmp_path_factory):
    psc, op = start_with_operator(tmp_path_factory.mktemp("psc"), ciba_interval=1)
    yield psc, op
    op.stop()
    psc.stop()


@pytest.fixture
def psc(peers):
    p = peers[0]
    yield p
    # Whatever a test changed, the next one starts from the defaults.
    if not p.is_up():
        p.start()
    p.token_mode("normal")
    p.set_ttl(**DEFAULT_TTL)


@pytest.fixture
def op(peers):
    return peers[1]


@pytest.fixture
def card(psc):
    return psc.pki / "practitioner.pem", psc.pki / "practitioner.key"


def message(subject):
    return (
        f"From: {MAILBOX}\r\nTo: {OTHER_MAILBOX}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{uuid.uuid4()}@cabinet.test>\r\n\r\nCompte rendu.\r\n"
    ).encode()


def smtp_refused(op, user, token, mechanism="XOAUTH2", implicit_tls=False):
    with pytest.raises(smtplib.SMTPAuthenticationError) as err:
        op.smtp_oauth(user, token, mechanism, implicit_tls=implicit_tls)
    assert err.value.smtp_code == 535
    return err.value


def imap_refused(op, user, token, mechanism="XOAUTH2"):
    with pytest.raises(imaplib.IMAP4.error) as err:
        op.imap_oauth(user, token, mechanism)
    assert "AUTHENTICATIONFAILED" in str(err.value)
    return err.value


def assert_refused_everywhere(op, token, user=MAILBOX):
    smtp_refused(op, user, token)
    imap_refused(op, user, token)


def jwt_parts(token):
    def dec(part):
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))

    header, payload, signature = token.split(".")
    return dec(header), dec(payload), signature


# -- discovery -----------------------------------------------------------------


def test_discovery_names_every_endpoint_the_box_uses(psc):
    d = psc.discovery()
    assert d["issuer"] == psc.issuer == f"https://localhost:{psc.port}"
    for key, path in [
        ("authorization_endpoint", "/auth"),
        ("token_endpoint", "/token"),
        ("introspection_endpoint", "/token/introspection"),
        ("backchannel_authentication_endpoint", "/backchannel"),
    ]:
        assert d[key] == psc.issuer + path
    assert "poll" in d["backchannel_token_delivery_modes_supported"]
    assert CIBA_GRANT in d["grant_types_supported"]
    assert {"client_secret_basic", "client_secret_post", "tls_client_auth"} <= set(
        d["token_endpoint_auth_methods_supported"]
    )
    assert {"openid", "scope_all"} <= set(d["scopes_supported"])
    assert d["code_challenge_methods_supported"] == ["S256"]
    status, _, body = psc.request("GET", "/jwks")
    assert status == 200 and json.loads(body)["keys"]


# -- card login ------------------------------------------------------------------


def test_card_login_gives_tokens_that_postfix_and_dovecot_accept(psc, op, card):
    psc.reset_counters()
    tokens = psc.card_login(*card)
    assert tokens["token_type"] == "Bearer"
    assert tokens["access_token"] and tokens["refresh_token"] and tokens["id_token"]
    assert tokens["expires_in"] == 300
    _, claims, _ = jwt_parts(tokens["id_token"])
    assert claims["sub"] == PRACTITIONER_ID and claims["iss"] == psc.issuer
    info = psc.introspect(tokens["access_token"])
    assert info["active"] is True
    assert info["sub"] == PRACTITIONER_ID and info["email"] == MAILBOX
    assert info["exp"] > time.time()

    subject = f"XOAUTH2 {uuid.uuid4().hex[:10]}"
    token = tokens["access_token"]
    with op.smtp_oauth(MAILBOX, token) as s:
        assert s.sendmail(MAILBOX, [OTHER_MAILBOX], message(subject)) == {}
    with op.smtp_oauth(MAILBOX, token, "OAUTHBEARER", implicit_tls=True) as s:
        assert s.sendmail(MAILBOX, [OTHER_MAILBOX], message(subject + " bis")) == {}
    for mechanism in ("XOAUTH2", "OAUTHBEARER"):
        client = op.imap_oauth(MAILBOX, token, mechanism)
        try:
            assert client.select("INBOX")[0] == "OK"
        finally:
            client.logout()
    assert len(op.find(OTHER_MAILBOX, subject.encode(), count=2)) == 2

    counters = psc.counters()
    assert counters["card_login"]["ok"] == 1
    assert counters["card_login"]["seen"][-1]["cn"] == PRACTITIONER_ID
    assert counters["token"]["authorization_code"] == {"ok": 1}
    assert counters["introspection"]["active"] >= 4


def test_imap_takes_the_token_as_a_sasl_initial_response(psc, op, card):
    token = psc.card_login(*card)["access_token"]
    for mechanism, response in [("XOAUTH2", xoauth2(MAILBOX, token)), ("OAUTHBEARER", oauthbearer(MAILBOX, token))]:
        client = imaplib.IMAP4(op.env["OPERATOR_IMAP_HOST"], int(op.env["OPERATOR_IMAP_PORT"]))
        try:
            client.starttls(ssl_context=op.ssl_context(None))
            assert "SASL-IR" in client.capabilities
            assert f"AUTH={mechanism}" in client.capabilities
            # imaplib never sends an initial response: the command by hand.
            ir = base64.b64encode(response.encode()).decode()
            client.send(f"a1 AUTHENTICATE {mechanism} {ir}\r\n".encode())
            reply = client.readline()
            while reply.startswith(b"* "):
                reply = client.readline()
            assert reply.startswith(b"a1 OK"), reply
        finally:
            client.shutdown()


def test_submission_offers_oauth_only_after_tls_and_relays_only_when_authenticated(op):
    plain = smtplib.SMTP(op.env["OPERATOR_SMTP_HOST"], int(op.env["OPERATOR_SMTP_PORT"]), timeout=10)
    try:
        plain.ehlo("client.test")
        assert not plain.has_extn("auth")
    finally:
        plain.close()
    # No client certificate is asked for, and without AUTH nothing is relayed.
    with op.smtp(identity=None) as s:
        mechanisms = s.esmtp_features["auth"].upper().split()
        assert "XOAUTH2" in mechanisms and "OAUTHBEARER" in mechanisms
        s.mail(MAILBOX)
        code, reply = s.rcpt(OTHER_MAILBOX)
        assert code == 554 and b"Access denied" in reply


def test_card_login_refused_without_a_trusted_card(psc):
    psc.reset_counters()
    pki = psc.pki
    cases = [
        (None, "no client certificate"),
        ((pki / "outsider.pem", pki / "outsider.key"), "not trusted"),
        # Chains to the test PKI, but names no practitioner.
        ((pki / "client-chain.pem", pki / "client.key"), "unknown practitioner"),
    ]
    for cert, reason in cases:
        result = psc.authorize(cert, code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        assert result["error"] == "access_denied", result
        assert reason in result["error_description"]
        assert result["state"] == result["_state"]
        assert "code" not in result
    counters = psc.counters()["card_login"]
    assert counters["ok"] == 0 and counters["refused"] == 3
    assert [(seen["cn"], seen["ok"]) for seen in counters["seen"]] == [
        (None, False),
        ("intrus@test.mssante.fr", False),
        ("cabinet.dupont@test.mssante.fr", False),
    ]
    with pytest.raises(AuthorizationError) as err:
        psc.card_login(None, None)
    assert err.value.error == "access_denied"


def test_authorization_requires_pkce(psc, card):
    result = psc.authorize(card)
    assert result["error"] == "invalid_request" and "PKCE" in result["error_description"]


def test_each_login_is_the_card_presented_then(psc, op, card):
    pki = psc.pki
    # Cookies kept from a first login (its session among them) change
    # nothing: the next login is the next card's, here the leaf alone, as
    # a card presents it.
    jar = {}
    first = psc.card_login(*card, jar=jar)
    assert any(name.startswith("_session") for name in jar)
    tokens = psc.card_login(pki / "practitioner2-leaf.pem", pki / "practitioner2.key", jar=jar)
    info = psc.introspect(tokens["access_token"])
    # Both practitioners map to the practice's mailbox.
    assert info["sub"] == PRACTITIONER2_ID and info["email"] == MAILBOX
    assert psc.introspect(first["access_token"])["sub"] == PRACTITIONER_ID
    op.imap_oauth(MAILBOX, tokens["access_token"]).logout()
    with pytest.raises(AuthorizationError):
        psc.card_login(None, None, jar=jar)


# -- client authentication --------------------------------------------------------


def test_mtls_client_authenticates_with_its_certificate_only(psc, op, card):
    pki = psc.pki
    tokens = psc.card_login(*card, client=psc.mtls_client_id)
    assert tokens["refresh_token"]
    with op.smtp_oauth(MAILBOX, tokens["access_token"]) as s:
        s.noop()
    # A refresh, authenticated by the certificate again.
    status, body = psc.post_form(
        "/token", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}, psc.mtls_client_id
    )
    assert status == 200 and body["access_token"]

    form = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"], "client_id": psc.mtls_client_id}
    wrong = [
        None,
        (pki / "outsider.pem", pki / "outsider.key"),
        # Trusted, but not the subject the client is bound to.
        (pki / f"mailbox-{OTHER_MAILBOX}.pem", pki / f"mailbox-{OTHER_MAILBOX}.key"),
    ]
    for cert in wrong:
        status, _, data = psc.request("POST", "/token", urlencode(form).encode(), FORM, cert=cert)
        assert status == 401 and json.loads(data)["error"] == "invalid_client", (cert, data)
    # Nor does a secret open it.
    with_secret = urlencode(dict(form, client_secret=psc.client_secret)).encode()
    status, _, data = psc.request("POST", "/token", with_secret, FORM)
    assert status == 401 and json.loads(data)["error"] == "invalid_client"
    # The refresh token survived the failed attempts.
    status, body = psc.post_form("/token", form, psc.mtls_client_id)
    assert status == 200


def test_secret_client_takes_basic_or_post_and_refuses_a_wrong_secret(psc, card):
    tokens = psc.card_login(*card)
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
            "client_id": psc.client_id, "client_secret": "wrong"}
    status, _, data = psc.request("POST", "/token", urlencode(form).encode(), FORM)
    assert status == 401 and json.loads(data)["error"] == "invalid_client"
    form["client_secret"] = psc.client_secret
    status, _, data = psc.request("POST", "/token", urlencode(form).encode(), FORM)
    assert status == 200 and json.loads(data)["refresh_token"]
    assert psc.client_secret_file.read_text() == psc.client_secret


# -- e-CPS (CIBA) ------------------------------------------------------------------


def test_ciba_approved_after_pending(psc, op):
    psc.reset_counters()
    started = psc.ciba_start(PRACTITIONER_ID, binding_message="Facteur: code 4821")
    assert started["interval"] == 1 and started["expires_in"] > 0
    pending = psc.wait_pending_ciba(PRACTITIONER_ID)
    assert pending["id"] == started["auth_req_id"]
    assert pending["binding_message"] == "Facteur: code 4821"
    assert pending["client_id"] == psc.client_id and pending["account"] == PRACTITIONER_ID
    time.sleep(1)
    with pytest.raises(TokenError) as err:
        psc.ciba_poll(started["auth_req_id"])
    assert err.value.error == "authorization_pending"
    psc.approve(started["auth_req_id"])
    assert psc.pending_ciba() == []
    tokens = psc.ciba_wait(started["auth_req_id"], interval=1)
    assert tokens["access_token"] and tokens["refresh_token"]
    assert psc.introspect(tokens["access_token"])["email"] == MAILBOX
    op.imap_oauth(MAILBOX, tokens["access_token"], "OAUTHBEARER").logout()
    counters = psc.counters()
    assert counters["ciba"] == {"created": 1, "approved": 1, "denied": 0, "expired": 0}
    assert counters["token"][CIBA_GRANT] == {"authorization_pending": 1, "ok": 1}


def test_ciba_polling_too_fast_gets_slow_down(psc):
    started = psc.ciba_start(PRACTITIONER_ID)
    for _ in range(2):
        with pytest.raises(TokenError) as err:
            psc.ciba_poll(started["auth_req_id"])
        assert err.value.error == "slow_down"
    psc.deny(started["auth_req_id"])


def test_ciba_denied(psc):
    with pytest.raises(TokenError) as err:
        psc.ciba_login(PRACTITIONER2_ID, approve=False)
    assert err.value.error == "access_denied"
    assert psc.counters()["ciba"]["denied"] >= 1


def test_ciba_expires(psc):
    psc.set_ttl(ciba=2)
    started = psc.ciba_start(PRACTITIONER_ID)
    assert started["expires_in"] == 2
    time.sleep(2.2)
    with pytest.raises(TokenError) as err:
        psc.ciba_poll(started["auth_req_id"])
    assert err.value.error == "expired_token"
    with pytest.raises(Exception, match="409"):
        psc.approve(started["auth_req_id"])
    assert psc.counters()["ciba"]["expired"] >= 1
    assert all(p["id"] != started["auth_req_id"] for p in psc.pending_ciba())


def test_ciba_refuses_unknown_practitioners_and_long_messages(psc):
    with pytest.raises(TokenError) as err:
        psc.ciba_start("899700000099")
    assert err.value.error == "unknown_user_id"
    with pytest.raises(TokenError) as err:
        psc.ciba_start(PRACTITIONER_ID, binding_message="x" * 61)
    assert err.value.error == "invalid_binding_message"
    # 60 printable characters, accents included, are fine.
    started = psc.ciba_start(PRACTITIONER_ID, binding_message="é" * 60)
    psc.deny(started["auth_req_id"])


# -- refresh, revocation, expiry ----------------------------------------------------


def test_refresh_rotates_then_fails_after_revocation(psc, op, card):
    psc.reset_counters()
    tokens = psc.card_login(*card)
    refreshed = psc.refresh(tokens["refresh_token"])
    assert refreshed["access_token"] != tokens["access_token"]
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    op.imap_oauth(MAILBOX, refreshed["access_token"]).logout()

    assert psc.revoke_refresh_tokens(PRACTITIONER_ID) >= 1
    with pytest.raises(TokenError) as err:
        psc.refresh(refreshed["refresh_token"])
    assert err.value.error == "invalid_grant"
    assert psc.introspect(refreshed["access_token"])["active"] is False
    assert_refused_everywhere(op, refreshed["access_token"])
    assert psc.counters()["token"]["refresh_token"] == {"ok": 1, "invalid_grant": 1}


def test_reusing_a_rotated_refresh_token_revokes_the_grant(psc, card):
    tokens = psc.card_login(*card)
    newer = psc.refresh(tokens["refresh_token"])
    with pytest.raises(TokenError) as err:
        psc.refresh(tokens["refresh_token"])
    assert err.value.error == "invalid_grant"
    with pytest.raises(TokenError):
        psc.refresh(newer["refresh_token"])


def test_expired_tokens_are_refused(psc, op, card):
    psc.set_ttl(access_token=2, refresh_token=2)
    tokens = psc.card_login(*card)
    assert tokens["expires_in"] == 2
    op.imap_oauth(MAILBOX, tokens["access_token"]).logout()
    time.sleep(2.2)
    assert psc.introspect(tokens["access_token"])["active"] is False
    smtp = smtp_refused(op, MAILBOX, tokens["access_token"])
    # The XOAUTH2 error JSON came as the 334 challenge before the 535.
    assert json.loads(smtp.challenges[0])["status"] == "401"
    imap = imap_refused(op, MAILBOX, tokens["access_token"], "OAUTHBEARER")
    error = json.loads(imap.challenges[0])
    assert error["status"] == "invalid_token" and error["openid-configuration"] == psc.discovery_url
    with pytest.raises(TokenError) as err:
        psc.refresh(tokens["refresh_token"])
    assert err.value.error == "invalid_grant"


def test_garbage_and_unsigned_tokens_are_refused(psc, op, card):
    psc.token_mode("garbage")
    garbage = psc.card_login(*card)["access_token"]
    psc.token_mode("unsigned")
    unsigned = psc.card_login(*card)
    header, claims, signature = jwt_parts(unsigned["access_token"])
    assert header["alg"] == "none" and signature == ""
    assert claims["sub"] == PRACTITIONER_ID and claims["email"] == MAILBOX
    assert claims["iss"] == psc.issuer and claims["exp"] > time.time()
    # The refresh token is real: the next refresh gives an unsigned one again.
    assert psc.refresh(unsigned["refresh_token"])["access_token"].endswith(".")
    psc.token_mode("normal")
    assert psc.token_mode() == "normal"
    before = psc.counters()["introspection"]["inactive"]
    for token in (garbage, unsigned["access_token"]):
        assert psc.introspect(token) == {"active": False}
        assert_refused_everywhere(op, token)
    assert psc.counters()["introspection"]["inactive"] >= before + 6


def test_token_for_one_mailbox_is_refused_for_another(psc, op, card):
    token = psc.card_login(*card)["access_token"]
    for mechanism in ("XOAUTH2", "OAUTHBEARER"):
        smtp_refused(op, OTHER_MAILBOX, token, mechanism)
        imap_refused(op, OTHER_MAILBOX, token, mechanism)
    assert f"Username '{OTHER_MAILBOX}' did not match '{MAILBOX}'" in op.log("dovecot")


# -- the provider down and back ---------------------------------------------------------


def test_provider_down_then_back_keeps_what_it_issued(psc, op, card):
    tokens = psc.card_login(*card)
    psc.stop()
    assert not psc.is_up()
    # The operator cannot check the token: Dovecot calls it a temporary
    # failure (IMAP NO [UNAVAILABLE]), which Postfix still answers with 535.
    smtp_refused(op, MAILBOX, tokens["access_token"])
    with pytest.raises(imaplib.IMAP4.error, match="UNAVAILABLE"):
        op.imap_oauth(MAILBOX, tokens["access_token"])
    psc.start()
    op.imap_oauth(MAILBOX, tokens["access_token"]).logout()
    refreshed = psc.refresh(tokens["refresh_token"])
    assert psc.introspect(refreshed["access_token"])["active"] is True
