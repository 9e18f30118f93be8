"""Python handle on the test Pro Santé Connect (tests/psc/provider.mjs).

A real OpenID provider (panva's oidc-provider, run by Node.js) on loopback,
serving HTTPS with the test operator's PKI, as the box sees PSC: card login
(authorization code + PKCE, the practitioner authenticated by the CPS
card's TLS client certificate), e-CPS login (CIBA, poll mode, approved or
denied by the test), client_secret_basic and tls_client_auth clients, and
introspection for the operator. Typical use:

    import sys; sys.path.insert(0, "<repo>/tests/psc"); sys.path.insert(0, "<repo>/tests/operator")
    from psc_fixture import ProSanteConnect
    from operator_fixture import Operator, make_pki

    @pytest.fixture(scope="module")
    def psc_and_operator(tmp_path_factory):
        base = tmp_path_factory.mktemp("psc")
        pki = make_pki(base / "operator")          # the operator's PKI, before the operator
        psc = ProSanteConnect(base / "psc", pki).start()
        op = Operator().start_oauth2(base / "operator", psc)
        yield psc, op
        op.stop()
        psc.stop()

(start_with_operator() below does just that.) Then, in tests:

    psc.issuer, psc.port, psc.discovery_url, psc.introspection_url
    psc.client_id, psc.client_secret, psc.client_secret_file, psc.mtls_client_id
    tokens = psc.card_login(pki / "practitioner.pem", pki / "practitioner.key")
    tokens = psc.ciba_login("899700000001")          # the test approves at once
    psc.pending_ciba(); psc.approve(id); psc.deny(id)
    psc.revoke_refresh_tokens("899700000001"); psc.token_mode("garbage")
    psc.counters(); psc.reset_counters(); psc.set_ttl(access_token=4)
    psc.stop(); ...; psc.start()                     (PSC unreachable, then back)

Token responses are dicts as the token endpoint sends them (access_token,
refresh_token, id_token, expires_in, token_type, scope). Failures raise
TokenError (token endpoint) or AuthorizationError (redirect with error),
both carrying the OAuth error code.

Only the standard library is used. node_modules is installed once with
`npm ci` from the committed lock file when missing.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import secrets
import signal
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Optional, Tuple, Union
from urllib.parse import parse_qs, quote, urlencode, urlsplit

HERE = Path(__file__).resolve().parent
PROVIDER = HERE / "provider.mjs"
REDIRECT_URI = "https://facteur.local/psc/retour"
SCOPE = "openid scope_all"
PRACTITIONER_ID = "899700000001"
PRACTITIONER2_ID = "899700000002"
MAILBOX = "cabinet.dupont@test.mssante.fr"
CIBA_GRANT = "urn:openid:params:grant-type:ciba"
# The mTLS client is bound to the test PKI's "Organisation" software
# certificate (client-chain.pem), RFC 4514 order.
MTLS_SUBJECT_DN = "CN=cabinet.dupont@test.mssante.fr,OU=10000000001,O=CABINET DUPONT TEST,C=FR"

PathLike = Union[str, Path]
CertPair = Optional[Tuple[PathLike, PathLike]]

_npm_lock = threading.Lock()


class PscError(RuntimeError):
    """The provider did not start, or a test control failed."""


class TokenError(Exception):
    """The token (or backchannel) endpoint answered an OAuth error."""

    def __init__(self, status: int, body: dict):
        self.status = status
        self.body = body
        self.error = body.get("error") if isinstance(body, dict) else None
        self.description = body.get("error_description") if isinstance(body, dict) else None
        super().__init__(f"{status} {self.error}: {self.description}")


class AuthorizationError(Exception):
    """The authorization flow ended at the redirect_uri with an error."""

    def __init__(self, params: dict):
        self.params = params
        self.error = params.get("error")
        self.description = params.get("error_description")
        super().__init__(f"{self.error}: {self.description}")


def ensure_node_modules() -> None:
    """Installs tests/psc/node_modules from the lock file, once, if missing."""
    with _npm_lock:
        if (HERE / "node_modules" / "oidc-provider" / "package.json").exists():
            return
        proc = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, capture_output=True, text=True, timeout=600
        )
        if proc.returncode != 0:
            raise PscError(f"npm ci in {HERE} failed:\n{proc.stdout}{proc.stderr}")


def pkce_pair() -> Tuple[str, str]:
    """(code_verifier, S256 code_challenge), as RFC 7636 describes."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def basic_auth(client_id: str, secret: str) -> str:
    """HTTP basic credentials as RFC 6749 section 2.3.1 wants them: each
    part form-encoded first."""
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return "Basic " + base64.b64encode(raw).decode()


class ProSanteConnect:
    """One test Pro Santé Connect, living in its own directory.

    directory: where config.json, state.json, keys.json and provider.log go.
    pki: the test operator's PKI directory (operator_fixture.make_pki): the
    server certificate (server.pem, SAN localhost and 127.0.0.1), the CA
    chain client certificates are verified against, the client certificate
    the mTLS client is bound to. TTLs are in seconds; set_ttl() changes them
    while running.
    """

    def __init__(
        self,
        directory: PathLike,
        pki: PathLike,
        access_ttl: int = 300,
        refresh_ttl: int = 3600,
        ciba_ttl: int = 600,
        ciba_interval: int = 5,
        rotate_refresh_tokens: bool = True,
        redirect_uri: str = REDIRECT_URI,
        tls_max_version: Optional[str] = None,
        port: int = 0,
    ):
        self.dir = Path(directory)
        self.pki = Path(pki)
        self.redirect_uri = redirect_uri
        self.ciba_interval = ciba_interval
        self.client_id = "facteur-secret"
        self.mtls_client_id = "facteur-mtls"
        self.operator_client_id = "operator"
        self.client_secret = secrets.token_hex(16)
        self.operator_secret = secrets.token_hex(16)
        self._config = {
            "host": "127.0.0.1",
            "port": port,
            "tls": {
                "cert": str(self.pki / "server.pem"),
                "key": str(self.pki / "server.key"),
                "ca": str(self.pki / "ca-chain.pem"),
                **({"max_version": tls_max_version} if tls_max_version else {}),
            },
            "redirect_uris": [redirect_uri],
            "clients": {
                "secret": {"client_id": self.client_id, "client_secret": self.client_secret},
                "mtls": {"client_id": self.mtls_client_id, "subject_dn": MTLS_SUBJECT_DN},
                "operator": {"client_id": self.operator_client_id, "client_secret": self.operator_secret},
            },
            "ttl": {"access_token": access_ttl, "refresh_token": refresh_ttl, "ciba": ciba_ttl},
            "ciba_interval": ciba_interval,
            "rotate_refresh_tokens": rotate_refresh_tokens,
        }
        self._proc: Optional[subprocess.Popen] = None
        self._port: Optional[int] = None

    # -- lifecycle ---------------------------------------------------------
    def start(self, timeout: float = 30.0) -> "ProSanteConnect":
        """Starts the provider (again on the same port after a stop) and
        returns once discovery answers."""
        if self._proc is not None and self._proc.poll() is None:
            return self
        ensure_node_modules()
        self.dir.mkdir(parents=True, exist_ok=True)
        if self._port is not None:
            self._config["port"] = self._port
        config = self.dir / "config.json"
        config.write_text(json.dumps(self._config, indent=2))
        os.chmod(config, 0o600)
        secret_file = self.dir / "client-secret"
        secret_file.write_text(self.client_secret)
        os.chmod(secret_file, 0o600)
        ready = self.dir / "provider.json"
        ready.unlink(missing_ok=True)
        with open(self.dir / "node.log", "ab") as out:
            # Its own process group: stop() ends node and nothing else.
            self._proc = subprocess.Popen(
                ["node", str(PROVIDER), "--config", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                raise PscError(f"provider exited with {self._proc.returncode}\n{self._log_tail()}")
            if ready.exists():
                try:
                    info = json.loads(ready.read_text())
                except ValueError:
                    info = {}
                if info.get("pid") == self._proc.pid:
                    self._port = info["port"]
                    try:
                        self.discovery()
                        break
                    except (OSError, PscError):
                        pass
            if time.monotonic() >= deadline:
                self.stop()
                raise PscError(f"provider not answering after {timeout}s\n{self._log_tail()}")
            time.sleep(0.05)
        # Later starts (and a hand-run `node provider.mjs --config`) reuse the port.
        self._config["port"] = self._port
        config.write_text(json.dumps(self._config, indent=2))
        return self

    def stop(self) -> None:
        """Stops the provider; returns once its port refuses connections.
        What it issued survives in state.json for the next start()."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def is_up(self) -> bool:
        try:
            self.discovery()
            return True
        except (OSError, PscError):
            return False

    def __enter__(self) -> "ProSanteConnect":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def log(self) -> str:
        """Text of the provider's own log (requests, logins, CIBA, errors)."""
        path = self.dir / "provider.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _log_tail(self, lines: int = 20) -> str:
        out = []
        for name in ("node.log", "provider.log"):
            path = self.dir / name
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {path}\n" + "\n".join(tail))
        return "\n".join(out)

    # -- addresses and credentials -------------------------------------------
    @property
    def port(self) -> int:
        if self._port is None:
            raise PscError("provider never started")
        return self._port

    @property
    def issuer(self) -> str:
        return f"https://localhost:{self.port}"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def introspection_url(self) -> str:
        return f"{self.issuer}/token/introspection"

    @property
    def operator_introspection_url(self) -> str:
        """The introspection URL with the operator's client credentials in
        it, as Dovecot's oauth2 passdb takes them."""
        return f"https://{self.operator_client_id}:{self.operator_secret}@localhost:{self.port}/token/introspection"

    @property
    def client_secret_file(self) -> Path:
        """A file holding facteur-secret's secret alone (mode 600)."""
        return self.dir / "client-secret"

    @property
    def ca(self) -> Path:
        """The test roots: what a client verifies the provider against."""
        return self.pki / "ca.pem"

    @property
    def ca_chain(self) -> Path:
        return self.pki / "ca-chain.pem"

    @property
    def client_cert(self) -> Tuple[Path, Path]:
        """(chain, key) the facteur-mtls client is bound to."""
        return self.pki / "client-chain.pem", self.pki / "client.key"

    # -- HTTP ------------------------------------------------------------------
    def ssl_context(self, cert: CertPair = None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca))
        if cert:
            ctx.load_cert_chain(str(cert[0]), str(cert[1]))
        return ctx

    def request(
        self,
        method: str,
        target: str,
        body: Optional[bytes] = None,
        headers: Optional[dict] = None,
        cert: CertPair = None,
        timeout: float = 10.0,
    ) -> Tuple[int, dict, bytes]:
        """One request on a new TLS connection (as the box does for each
        redirect), presenting `cert` if given: (status, headers, body).
        Header names are lower-cased; Set-Cookie values are joined by "\\n"."""
        conn = http.client.HTTPSConnection("localhost", self.port, context=self.ssl_context(cert), timeout=timeout)
        try:
            conn.request(method, target, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            hdrs = {}
            for name, value in resp.getheaders():
                name = name.lower()
                hdrs[name] = f"{hdrs[name]}\n{value}" if name in hdrs else value
            return resp.status, hdrs, data
        finally:
            conn.close()

    def _json(self, method: str, target: str, payload: Optional[dict] = None) -> dict:
        body = json.dumps(payload).encode() if payload is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else {}
        status, _, data = self.request(method, target, body, headers)
        try:
            parsed = json.loads(data or b"{}")
        except ValueError:
            raise PscError(f"{method} {target}: {status}, not JSON: {data[:200]!r}")
        if status >= 400:
            raise PscError(f"{method} {target}: {status} {parsed}")
        return parsed

    def discovery(self) -> dict:
        status, _, data = self.request("GET", "/.well-known/openid-configuration", timeout=3)
        if status != 200:
            raise PscError(f"discovery: {status}")
        return json.loads(data)

    # -- test controls -----------------------------------------------------------
    def pending_ciba(self) -> list:
        """Pending CIBA requests, oldest first: [{id, login_hint, account,
        binding_message, client_id, scope, created, expires_at}]."""
        return self._json("GET", "/test/ciba")["pending"]

    def wait_pending_ciba(self, login_hint: Optional[str] = None, timeout: float = 10.0) -> dict:
        """The newest pending request (for login_hint, if given), once there is one."""
        deadline = time.monotonic() + timeout
        while True:
            pending = [p for p in self.pending_ciba() if login_hint is None or p["login_hint"] == login_hint]
            if pending:
                return pending[-1]
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no pending CIBA request after {timeout}s")
            time.sleep(0.05)

    def approve(self, request_id: str) -> None:
        """The practitioner approves on the e-CPS app."""
        self._json("POST", f"/test/ciba/{quote(request_id, safe='')}/approve", {})

    def deny(self, request_id: str) -> None:
        """The practitioner refuses on the e-CPS app (access_denied)."""
        self._json("POST", f"/test/ciba/{quote(request_id, safe='')}/deny", {})

    def revoke_refresh_tokens(self, account: Optional[str] = None) -> int:
        """Revokes every grant of `account` (a national id), or of everyone,
        with its refresh and access tokens; returns how many grants."""
        payload = {"account": account} if account is not None else {}
        return self._json("POST", "/test/revoke", payload)["revoked_grants"]

    def token_mode(self, mode: Optional[str] = None) -> str:
        """"normal", "garbage" (random access tokens) or "unsigned" (JWTs
        with alg none); sets it if given, returns the mode in force."""
        if mode is None:
            return self._json("GET", "/test/token-mode")["mode"]
        return self._json("POST", "/test/token-mode", {"mode": mode})["mode"]

    def counters(self) -> dict:
        """{"token": {grant_type: {"ok"|error: n}},
            "card_login": {"ok", "refused", "seen": [{cn, ok, reason}]},
            "ciba": {"created", "approved", "denied", "expired"},
            "introspection": {"active", "inactive"}}"""
        return self._json("GET", "/test/counters")

    def reset_counters(self) -> dict:
        return self._json("POST", "/test/counters/reset", {})

    def set_ttl(self, **seconds: int) -> dict:
        """Changes lifetimes for what is issued from now on: access_token,
        refresh_token, ciba, authorization_code, id_token, grant; returns
        the whole table."""
        return self._json("POST", "/test/ttl", seconds)["ttl"]

    # -- flows, as the box runs them ------------------------------------------------
    def client_auth(self, client: str, form: dict, cert: CertPair = None) -> Tuple[dict, dict, CertPair]:
        """(form, headers, cert) authenticating `client` the way it is
        registered: basic for facteur-secret and operator, client_id plus
        the certificate (default: the one it is bound to) for facteur-mtls."""
        form = dict(form)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if client == self.mtls_client_id:
            form["client_id"] = client
            cert = cert if cert is not None else self.client_cert
        elif client == self.operator_client_id:
            headers["Authorization"] = basic_auth(client, self.operator_secret)
        else:
            headers["Authorization"] = basic_auth(client, self.client_secret)
        return form, headers, cert

    def post_form(self, path: str, form: dict, client: Optional[str] = None, cert: CertPair = None,
                  headers: Optional[dict] = None) -> Tuple[int, dict]:
        """POST a form to an endpoint, authenticated as `client` (default
        facteur-secret); (status, JSON body)."""
        form, hdrs, cert = self.client_auth(client or self.client_id, form, cert)
        hdrs.update(headers or {})
        status, _, data = self.request("POST", path, urlencode(form).encode(), hdrs, cert=cert)
        try:
            return status, json.loads(data or b"{}")
        except ValueError:
            return status, {"error": "not_json", "error_description": data[:200].decode(errors="replace")}

    def token_request(self, form: dict, client: Optional[str] = None, cert: CertPair = None) -> dict:
        """The token endpoint; returns the token response or raises TokenError."""
        status, body = self.post_form("/token", form, client, cert)
        if status != 200:
            raise TokenError(status, body)
        return body

    def authorize(
        self,
        cert: CertPair = None,
        client: Optional[str] = None,
        scope: str = SCOPE,
        code_challenge: Optional[str] = None,
        extra: Optional[dict] = None,
        max_redirects: int = 10,
        jar: Optional[dict] = None,
    ) -> dict:
        """GET /auth presenting `cert` (the card), then every same-origin
        redirect as a fresh request on a new TLS connection with a simple
        cookie jar (name=value; pass `jar` to keep it across logins), until
        the redirect to the redirect_uri. Returns that redirect's query
        parameters (code, state, iss, or error, error_description) plus
        "_state" and "_nonce" sent."""
        state = secrets.token_urlsafe(16)
        nonce = secrets.token_urlsafe(16)
        params = {
            "response_type": "code",
            "client_id": client or self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": scope,
            "state": state,
            "nonce": nonce,
        }
        if code_challenge:
            params.update(code_challenge=code_challenge, code_challenge_method="S256")
        params.update(extra or {})
        target = "/auth?" + urlencode(params)
        jar = {} if jar is None else jar
        for _ in range(max_redirects):
            headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())} if jar else {}
            status, hdrs, data = self.request("GET", target, headers=headers, cert=cert)
            for line in hdrs.get("set-cookie", "").split("\n"):
                if "=" in line:
                    name, value = line.split(";", 1)[0].split("=", 1)
                    jar[name.strip()] = value.strip()
            if status not in (302, 303) or "location" not in hdrs:
                raise PscError(f"authorization: {status} without redirect: {data[:300]!r}")
            location = hdrs["location"]
            parts = urlsplit(location)
            if location.startswith(self.redirect_uri):
                result = {k: v[0] for k, v in parse_qs(parts.query).items()}
                result.update(_state=state, _nonce=nonce)
                return result
            if parts.netloc and parts.netloc != f"localhost:{self.port}":
                raise PscError(f"authorization: redirect off the provider: {location}")
            target = parts.path + (f"?{parts.query}" if parts.query else "")
        raise PscError("authorization: too many redirects")

    def card_login(self, cert: Optional[PathLike], key: Optional[PathLike], client: Optional[str] = None,
                   scope: str = SCOPE, client_cert: CertPair = None, jar: Optional[dict] = None) -> dict:
        """Authorization code + PKCE with the card's certificate (None: no
        card), then the code at the token endpoint as `client`. Returns the token response;
        raises AuthorizationError (card refused) or TokenError."""
        verifier, challenge = pkce_pair()
        card = (cert, key) if cert is not None else None
        result = self.authorize(card, client=client, scope=scope, code_challenge=challenge, jar=jar)
        if "error" in result:
            raise AuthorizationError(result)
        if result.get("state") != result["_state"]:
            raise PscError("authorization: state mismatch")
        return self.exchange_code(result["code"], verifier, client=client, client_cert=client_cert)

    def exchange_code(self, code: str, verifier: str, client: Optional[str] = None,
                      client_cert: CertPair = None) -> dict:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": verifier,
        }
        return self.token_request(form, client, client_cert)

    def refresh(self, refresh_token: str, client: Optional[str] = None) -> dict:
        """A refresh; the response carries a new refresh token (rotation)."""
        return self.token_request({"grant_type": "refresh_token", "refresh_token": refresh_token}, client)

    def ciba_start(self, login_hint: str, binding_message: Optional[str] = None, scope: str = SCOPE,
                   client: Optional[str] = None, extra: Optional[dict] = None) -> dict:
        """POST /backchannel: {auth_req_id, expires_in, interval}, or TokenError."""
        form = {"scope": scope, "login_hint": login_hint, **(extra or {})}
        if binding_message is not None:
            form["binding_message"] = binding_message
        status, body = self.post_form("/backchannel", form, client)
        if status != 200:
            raise TokenError(status, body)
        return body

    def ciba_poll(self, auth_req_id: str, client: Optional[str] = None) -> dict:
        """One poll of the token endpoint: tokens, or TokenError
        (authorization_pending, slow_down, access_denied, expired_token)."""
        return self.token_request({"grant_type": CIBA_GRANT, "auth_req_id": auth_req_id}, client)

    def ciba_wait(self, auth_req_id: str, interval: float, client: Optional[str] = None,
                  timeout: float = 30.0) -> dict:
        """Polls every `interval` seconds (5 more after a slow_down) until
        tokens or an error other than authorization_pending."""
        deadline = time.monotonic() + timeout
        while True:
            time.sleep(interval)
            try:
                return self.ciba_poll(auth_req_id, client)
            except TokenError as e:
                if e.error == "slow_down":
                    interval += 5
                elif e.error != "authorization_pending" or time.monotonic() >= deadline:
                    raise

    def ciba_login(self, login_hint: str = PRACTITIONER_ID, approve: bool = True,
                   binding_message: Optional[str] = None, client: Optional[str] = None) -> dict:
        """A whole e-CPS login: the request, the test approving (or denying)
        on the practitioner's behalf, the polls. Returns the token response
        or raises TokenError (access_denied after a denial)."""
        started = self.ciba_start(login_hint, binding_message, client=client)
        request_id = started["auth_req_id"]
        self.wait_pending_ciba(login_hint)
        if approve:
            self.approve(request_id)
        else:
            self.deny(request_id)
        return self.ciba_wait(request_id, started.get("interval", 5), client)

    def introspect(self, token: str, hint: Optional[str] = None) -> dict:
        """The introspection response, asked as the operator (Dovecot) does."""
        form = {"token": token, **({"token_type_hint": hint} if hint else {})}
        status, body = self.post_form("/token/introspection", form, self.operator_client_id)
        if status != 200:
            raise TokenError(status, body)
        return body


def start_with_operator(base: PathLike, **psc_options):
    """A provider and a test operator in oauth2 mode checking its tokens,
    under `base` (BASE/psc, BASE/operator). Returns (psc, operator); stop
    the operator first, then the provider."""
    import sys

    sys.path.insert(0, str(HERE.parent / "operator"))
    from operator_fixture import Operator, make_pki

    base = Path(base)
    pki = make_pki(base / "operator")
    psc = ProSanteConnect(base / "psc", pki, **psc_options).start()
    try:
        op = Operator().start_oauth2(base / "operator", psc)
    except Exception:
        psc.stop()
        raise
    return psc, op
