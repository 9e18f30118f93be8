"""Python handle on the test MSSanté operator (tests/operator/operator.sh).

    op = Operator()
    op.start(tmp_dir, smtp_port, imap_port, lmtp_port, smtps_port)
    op.env["CLIENT_P12"], op.fetch_all("dr.martin@medecin.test.mssante.fr")
    op.stop_smtp(); op.start_smtp(); op.stop()

Mailboxes are read back over IMAP with STARTTLS, a client certificate from
the test PKI and the plain test password, as a mail client would.
"""

import imaplib
import os
import ssl
import subprocess
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "operator.sh"


class Operator:
    def __init__(self):
        self.dir = None
        self.env = {}

    def _run(self, *args, extra_env=None):
        env = dict(os.environ)
        env.update(extra_env or {})
        return subprocess.run(
            ["bash", str(SCRIPT), *args, str(self.dir)], env=env, check=True, capture_output=True, text=True, timeout=120
        )

    def start(self, directory, smtp_port: int, imap_port: int, lmtp_port: int, smtps_port: int):
        self.dir = Path(directory)
        self._run(
            "start",
            extra_env={
                "OPERATOR_SMTP_PORT": str(smtp_port),
                "OPERATOR_IMAP_PORT": str(imap_port),
                "OPERATOR_LMTP_PORT": str(lmtp_port),
                "OPERATOR_SMTPS_PORT": str(smtps_port),
            },
        )
        self.env = dict(
            line.split("=", 1) for line in (self.dir / "operator.env").read_text().splitlines() if "=" in line
        )
        return self

    def stop(self):
        if self.dir:
            self._run("stop")

    def stop_smtp(self):
        self._run("stop-smtp")

    def start_smtp(self):
        self._run("start-smtp")

    def imap(self, mailbox: str) -> imaplib.IMAP4:
        ctx = ssl.create_default_context(cafile=self.env["OPERATOR_CA"])
        ctx.check_hostname = False
        # Dovecot takes the user from the certificate's CN: present the
        # certificate of the mailbox being read.
        pki = Path(self.env["OPERATOR_PKI"])
        ctx.load_cert_chain(pki / f"mailbox-{mailbox}.pem", pki / f"mailbox-{mailbox}.key")
        client = imaplib.IMAP4(self.env["OPERATOR_IMAP_HOST"], int(self.env["OPERATOR_IMAP_PORT"]))
        client.starttls(ssl_context=ctx)
        client.login(mailbox, self.env["OPERATOR_IMAP_PASSWORD"])
        return client

    def fetch_all(self, mailbox: str) -> list:
        """Raw RFC 822 bytes of every message in the mailbox's INBOX."""
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
        deadline = time.time() + timeout
        messages = []
        while time.time() < deadline:
            messages = self.fetch_all(mailbox)
            if len(messages) >= count:
                return messages
            time.sleep(0.3)
        raise TimeoutError(f"{mailbox}: {len(messages)} messages after {timeout}s, expected {count}")
