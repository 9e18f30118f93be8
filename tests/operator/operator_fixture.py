"""Python handle on the test MSSanté operator (tests/operator/operator.sh).

A real Postfix (submission, STARTTLS, client certificate required) and a
real Dovecot (IMAP, STARTTLS, client certificate required) on loopback,
with a test PKI shaped like IGC-Santé. Typical use in a conftest.py:

    import sys; sys.path.insert(0, "<repo>/tests/operator")
    from operator_fixture import Operator

    @pytest.fixture(scope="module")
    def operator(tmp_path_factory):
        op = Operator().start(tmp_path_factory.mktemp("operator"))
        yield op
        op.stop()

then, in tests:

    op.env["CLIENT_P12"], op.env["OPERATOR_SMTP_PORT"], ...   (DIR/operator.env)
    with op.smtp() as s: s.sendmail(op.env["CLIENT_MAILBOX"], [op.env["DEMO_TO"]], raw)
    op.wait_for_messages("dr.martin@medecin.test.mssante.fr", 1)   -> [bytes]
    op.stop_smtp(); ...; op.start_smtp()                           (operator unreachable)

In oauth2 mode ("TLS then XOAUTH2", for Pro Santé Connect tokens; see
tests/psc/psc_fixture.py for the provider), the PKI comes first, since the
provider serves with it:

    pki = make_pki(directory)
    psc = ProSanteConnect(tmp / "psc", pki).start()
    op = Operator().start_oauth2(directory, psc)
    with op.smtp_oauth(mailbox, access_token) as s: s.sendmail(...)
    op.imap_oauth(mailbox, access_token, "OAUTHBEARER")

Only the standard library is used. Mailboxes are read back over IMAP with
STARTTLS and the mailbox's own test certificate (Dovecot takes the user
from the certificate's CN), as a mail client of the operator would.
"""

from __future__ import annotations

import imaplib
import os
import smtplib
import socket
import ssl
import subprocess
import time
from pathlib import Path
from typing import Optional, Sequence, Tuple, Union

SCRIPT = Path(__file__).resolve().parent / "operator.sh"
PKI_SCRIPT = Path(__file__).resolve().parent / "pki.sh"

# What a client may present: a name from the test PKI ("client", the APP
# mailbox's organisation certificate; "practitioner"; "outsider", signed by
# an untrusted CA; "mailbox:ADDRESS"), an explicit (cert, key) pair, or None.
Identity = Union[None, str, Tuple[str, str]]


class OperatorError(RuntimeError):
    """operator.sh failed; the message carries its output and log tails."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the kernel's choice)."""
    return free_ports(1)[0]


def free_ports(count: int) -> list:
    """`count` distinct free ports: the sockets stay bound until all are
    picked, so the kernel cannot hand out the same port twice."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def make_pki(directory: Union[str, Path]) -> Path:
    """Generates the test PKI in DIRECTORY/pki, where `start` would, and
    returns that path: a peer that serves with it (the test Pro Santé
    Connect) can start before the operator that trusts it."""
    pki = Path(directory) / "pki"
    pki.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["bash", str(PKI_SCRIPT), str(pki)], capture_output=True, text=True, timeout=180)
    if proc.returncode != 0:
        raise OperatorError(f"pki.sh {pki} exited {proc.returncode}\n{proc.stdout}{proc.stderr}")
    return pki


def xoauth2(user: str, token: str) -> str:
    """The XOAUTH2 client response (before base64)."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


def oauthbearer(user: str, token: str, host: str = "localhost", port: Optional[int] = None) -> str:
    """The OAUTHBEARER (RFC 7628) client response (before base64)."""
    port_part = f"port={port}\x01" if port else ""
    return f"n,a={user},\x01host={host}\x01{port_part}auth=Bearer {token}\x01\x01"


def read_env(path: Union[str, Path]) -> dict:
    """Parses DIR/operator.env (KEY=value lines, no quoting)."""
    env = {}
    for line in Path(path).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip()
    return env


class Operator:
    """One test operator instance, living in its own directory."""

    def __init__(self, script: Union[str, Path] = SCRIPT):
        self.script = Path(script)
        self.dir: Optional[Path] = None
        self.env: dict = {}

    # -- lifecycle ---------------------------------------------------------
    def start(
        self,
        directory: Union[str, Path],
        smtp_port: Optional[int] = None,
        imap_port: Optional[int] = None,
        lmtp_port: Optional[int] = None,
        smtps_port: Optional[int] = None,
        tls_policy: str = "open",
        auth: str = "certificate",
        auth_port: Optional[int] = None,
        oauth_introspection_url: Optional[str] = None,
        oauth_ca: Optional[Union[str, Path]] = None,
        oauth_openid_configuration_url: Optional[str] = None,
    ) -> "Operator":
        """Starts the operator in `directory` (PKI generated on first use).

        Ports left as None are picked free; if one is taken between the pick
        and the start (tests running in parallel), new ones are tried.
        `tls_policy`: "open" (TLS 1.2 and 1.3) or "mssante" (TLS 1.2 with
        the four suites of the MSSanté client rules only).
        `auth`: "certificate" (client certificate required) or "oauth2"
        (SASL XOAUTH2/OAUTHBEARER with tokens introspected at
        `oauth_introspection_url`, whose certificate chains to `oauth_ca`);
        start_oauth2 fills these in from a ProSanteConnect.
        """
        self.dir = Path(directory)
        chosen = [smtp_port, imap_port, lmtp_port, smtps_port, auth_port]
        attempts = 3 if None in chosen else 1
        for attempt in range(attempts):
            picked = iter(free_ports(5))
            ports = [p if p is not None else next(picked) for p in chosen]
            extra_env = {
                "OPERATOR_SMTP_PORT": str(ports[0]),
                "OPERATOR_IMAP_PORT": str(ports[1]),
                "OPERATOR_LMTP_PORT": str(ports[2]),
                "OPERATOR_SMTPS_PORT": str(ports[3]),
                "OPERATOR_TLS_POLICY": tls_policy,
                "OPERATOR_AUTH": auth,
            }
            if auth == "oauth2":
                extra_env.update(
                    OPERATOR_AUTH_PORT=str(ports[4]),
                    OPERATOR_OAUTH_INTROSPECTION_URL=oauth_introspection_url or "",
                    OPERATOR_OAUTH_CA=str(oauth_ca or ""),
                    OPERATOR_OAUTH_OPENID_CONFIGURATION_URL=oauth_openid_configuration_url or "",
                )
            try:
                self._run("start", extra_env=extra_env)
                break
            except OperatorError as e:
                # Retry only a lost race for a port, not a broken setup.
                if attempt + 1 == attempts or "port" not in str(e).split("---")[0]:
                    raise
                self._run("stop", check=False)
        self.env = read_env(self.dir / "operator.env")
        return self

    def start_oauth2(self, directory: Union[str, Path], provider, **kwargs) -> "Operator":
        """Starts the operator in oauth2 mode, checking the tokens of
        `provider` (a psc_fixture.ProSanteConnect, already started) by
        introspection as its "operator" client. Other arguments as start."""
        return self.start(
            directory,
            auth="oauth2",
            oauth_introspection_url=provider.operator_introspection_url,
            oauth_ca=provider.ca_chain,
            oauth_openid_configuration_url=provider.discovery_url,
            **kwargs,
        )

    def stop(self) -> None:
        """Stops Postfix and Dovecot; returns once their processes are gone."""
        if self.dir is not None and (self.dir / "ports").exists():
            self._run("stop")

    def stop_smtp(self) -> None:
        """Stops Postfix only: the submission ports refuse connections.
        Mail already queued at the operator stays queued."""
        self._run("stop-smtp")

    def start_smtp(self) -> None:
        """Starts Postfix again (same ports, same queue)."""
        self._run("start-smtp")

    def is_up(self) -> bool:
        """True when Postfix and Dovecot run and all their ports answer."""
        return self._run("status", check=False).returncode == 0

    def __enter__(self) -> "Operator":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self, command: str, extra_env: Optional[dict] = None, check: bool = True):
        env = dict(os.environ)
        env.update(extra_env or {})
        proc = subprocess.run(
            ["bash", str(self.script), command, str(self.dir)],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if check and proc.returncode != 0:
            raise OperatorError(
                f"operator.sh {command} {self.dir} exited {proc.returncode}\n"
                f"{proc.stdout}{proc.stderr}{self._log_tails()}"
            )
        return proc

    def _log_tails(self, lines: int = 15) -> str:
        out = []
        for name in ("postfix.log", "dovecot.log", "postfix-start.log", "dovecot-start.log"):
            path = self.dir / "log" / name if self.dir else None
            if path and path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {path} (last {len(tail)} lines)\n" + "\n".join(tail))
        return "\n".join(out)

    # -- files -------------------------------------------------------------
    def log(self, name: str = "postfix") -> str:
        """Text of DIR/log/NAME.log ("postfix" or "dovecot")."""
        path = self.dir / "log" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_log(self, text: str, name: str = "postfix", timeout: float = 10.0) -> str:
        """Waits until `text` appears in the log (postlogd writes it a moment
        after the session ends); returns the log. Raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.log(name)
            if text in log:
                return log
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{name} log: no {text!r} after {timeout}s")
            time.sleep(0.1)

    def queue(self) -> str:
        """The operator's Postfix queue listing (postqueue -p); a queue with
        nothing in it reads "Mail queue is empty"."""
        out = subprocess.run(
            ["/usr/sbin/postqueue", "-c", self.env["OPERATOR_POSTFIX_CONFIG"], "-p"],
            capture_output=True,
            text=True,
        )
        return out.stdout + out.stderr

    def identity(self, name: Identity) -> Optional[Tuple[str, str]]:
        """(certificate chain file, key file) for an identity name."""
        if name is None or isinstance(name, tuple):
            return name
        pki = Path(self.env["OPERATOR_PKI"])
        if name.startswith("mailbox:"):
            address = name.split(":", 1)[1]
            cert = pki / f"mailbox-{address}.pem"
            if not cert.exists():
                raise ValueError(f"no test certificate for mailbox {address}")
            return str(cert), str(pki / f"mailbox-{address}.key")
        keys = {"client": "CLIENT", "practitioner": "PRACTITIONER", "outsider": "OUTSIDER"}
        if name not in keys:
            raise ValueError(f"unknown identity {name!r}")
        return self.env[f"{keys[name]}_CERT"], self.env[f"{keys[name]}_KEY"]

    # -- clients -----------------------------------------------------------
    def ssl_context(
        self,
        identity: Identity = "client",
        tls12_only: bool = False,
        ciphers: Optional[str] = None,
    ) -> ssl.SSLContext:
        """A client context that verifies the operator against the test roots
        (OPERATOR_CA) and presents `identity`. `tls12_only` and `ciphers`
        (OpenSSL names) mimic a client held to the MSSanté TLS rules."""
        ctx = ssl.create_default_context(cafile=self.env["OPERATOR_CA"])
        if tls12_only:
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        if ciphers:
            ctx.set_ciphers(ciphers)
        pair = self.identity(identity)
        if pair:
            ctx.load_cert_chain(pair[0], pair[1])
        return ctx

    def smtp(
        self,
        identity: Identity = "client",
        implicit_tls: bool = False,
        context: Optional[ssl.SSLContext] = None,
        timeout: float = 30.0,
    ) -> smtplib.SMTP:
        """An SMTP session on the submission port, after STARTTLS (or on the
        implicit-TLS port) and EHLO. With no or an untrusted certificate the
        TLS handshake succeeds and Postfix answers the EHLO that follows with
        421 4.7.1 ("No client certificate presented", "Client certificate
        not trusted"): raised here as smtplib.SMTPResponseException."""
        ctx = context or self.ssl_context(identity)
        host = self.env["OPERATOR_SMTP_HOST"]
        if implicit_tls:
            client = smtplib.SMTP_SSL(host, int(self.env["OPERATOR_SMTPS_PORT"]), context=ctx, timeout=timeout)
        else:
            client = smtplib.SMTP(host, int(self.env["OPERATOR_SMTP_PORT"]), timeout=timeout)
            client.ehlo("client.test")
            client.starttls(context=ctx)
        code, reply = client.ehlo("client.test")
        if code != 250:
            client.close()
            raise smtplib.SMTPResponseException(code, reply)
        return client

    def smtp_oauth(
        self,
        user: str,
        token: str,
        mechanism: str = "XOAUTH2",
        implicit_tls: bool = False,
        timeout: float = 30.0,
    ) -> smtplib.SMTP:
        """An SMTP session authenticated with `token` (oauth2 mode): STARTTLS
        (or implicit TLS), EHLO, AUTH XOAUTH2 or OAUTHBEARER with the initial
        response. A refused token raises smtplib.SMTPAuthenticationError
        (535) after the server's error challenge (334 + base64 JSON), which
        is kept in the exception's `challenges` (decoded)."""
        client = self.smtp(identity=None, implicit_tls=implicit_tls, timeout=timeout)
        challenges = []
        first = xoauth2(user, token) if mechanism.upper() == "XOAUTH2" else oauthbearer(
            user, token, port=int(self.env["OPERATOR_SMTP_PORT"])
        )

        def respond(challenge=None):
            if challenge is None:
                return first
            challenges.append(challenge.decode(errors="replace"))
            # The client's answer to the error challenge: empty (XOAUTH2), or
            # %x01 (OAUTHBEARER, RFC 7628 section 3.2.3).
            return "" if mechanism.upper() == "XOAUTH2" else "\x01"

        try:
            client.auth(mechanism.upper(), respond)
        except smtplib.SMTPException as e:
            e.challenges = challenges
            client.close()
            raise
        return client

    def imap_oauth(self, user: str, token: str, mechanism: str = "XOAUTH2") -> imaplib.IMAP4:
        """An IMAP session authenticated with `token` (oauth2 mode), after
        STARTTLS, with no client certificate. A refused token raises
        imaplib.IMAP4.error (NO) after the server's error challenge (+ base64
        JSON), kept (decoded) in the exception's `challenges`."""
        client = imaplib.IMAP4(self.env["OPERATOR_IMAP_HOST"], int(self.env["OPERATOR_IMAP_PORT"]))
        challenges = []
        first = xoauth2(user, token) if mechanism.upper() == "XOAUTH2" else oauthbearer(
            user, token, port=int(self.env["OPERATOR_IMAP_PORT"])
        )

        def respond(challenge):
            if not challenges and not challenge:
                challenges.append(None)
                return first.encode()
            challenges.append(challenge.decode(errors="replace"))
            return b"" if mechanism.upper() == "XOAUTH2" else b"\x01"

        try:
            client.starttls(ssl_context=self.ssl_context(None))
            client.authenticate(mechanism.upper(), respond)
        except Exception as e:
            e.challenges = [c for c in challenges if c is not None]
            try:
                client.shutdown()
            except OSError:
                pass
            raise
        return client

    def imap(self, mailbox: str, mechanism: str = "PLAIN", identity: Identity = "mailbox") -> imaplib.IMAP4:
        """An IMAP session logged in to `mailbox` after STARTTLS. `identity`:
        "mailbox" (default) presents the mailbox's own test certificate;
        otherwise as for ssl_context (None: no certificate). `mechanism`:
        "PLAIN" (test password) or "EXTERNAL" (the certificate alone).
        Dovecot logs in as the certificate's CN whatever name is given."""
        ctx = self.ssl_context(f"mailbox:{mailbox}" if identity == "mailbox" else identity)
        client = imaplib.IMAP4(self.env["OPERATOR_IMAP_HOST"], int(self.env["OPERATOR_IMAP_PORT"]))
        try:
            client.starttls(ssl_context=ctx)
            if mechanism.upper() == "EXTERNAL":
                client.authenticate("EXTERNAL", lambda _challenge: b"")
            else:
                client.login(mailbox, self.env["OPERATOR_IMAP_PASSWORD"])
        except Exception:
            try:
                client.shutdown()
            except OSError:
                pass
            raise
        return client

    def fetch_all(self, mailbox: str) -> list:
        """Raw RFC 822 bytes (CRLF line ends) of every message in the
        mailbox's INBOX, oldest first. Nothing is marked read or deleted."""
        client = self.imap(mailbox)
        try:
            client.select("INBOX", readonly=True)
            _, data = client.uid("SEARCH", None, "ALL")
            uids = data[0].split()
            messages = []
            for start in range(0, len(uids), 200):
                chunk = b",".join(uids[start : start + 200])
                _, fetched = client.uid("FETCH", chunk, "(BODY.PEEK[])")
                messages.extend(part[1] for part in fetched if isinstance(part, tuple))
            return messages
        finally:
            client.logout()

    def wait_for_messages(self, mailbox: str, count: int, timeout: float = 30.0) -> list:
        """Polls the INBOX until it holds at least `count` messages; returns
        them all (fetch_all). Raises TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            messages = self.fetch_all(mailbox)
            if len(messages) >= count:
                return messages
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{mailbox}: {len(messages)} message(s) after {timeout}s, expected {count}\n"
                    f"operator queue: {self.queue()}"
                )
            time.sleep(0.2)

    def find(self, mailbox: str, needle: bytes, count: int = 1, timeout: float = 30.0) -> list:
        """Waits until `count` messages of the INBOX contain `needle`, and
        returns those messages (all of them, if more arrived)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.fetch_all(mailbox) if needle in m]
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{mailbox}: {len(found)} message(s) containing {needle!r} after {timeout}s")
            time.sleep(0.2)

    def clear(self, mailbox: str) -> None:
        """Deletes every message of the mailbox's INBOX."""
        client = self.imap(mailbox)
        try:
            client.select("INBOX")
            _, data = client.search(None, "ALL")
            if data[0].split():
                client.store("1:*", "+FLAGS.SILENT", r"(\Deleted)")
                client.expunge()
        finally:
            client.logout()


def send(op: Operator, recipients: Sequence[str], message: bytes, sender: Optional[str] = None, **smtp_kwargs) -> dict:
    """Sends one message through the operator's submission service with the
    organisation certificate; returns smtplib's refused-recipients dict."""
    with op.smtp(**smtp_kwargs) as client:
        return client.sendmail(sender or op.env["CLIENT_MAILBOX"], list(recipients), message)
