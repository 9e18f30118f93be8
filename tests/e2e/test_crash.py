"""Crash test: kill -9 the daemon at random moments while clients send
1,000 messages; every message that got a 250 must reach the operator.

The figures (acknowledged, delivered, duplicates) are written to
target/test-reports/crash.txt and printed."""

import random
import re
import smtplib
import threading
import time
from collections import Counter
from pathlib import Path

from facteur_harness import REPO, wait_port

MAILBOX = "secretariat@hopital.test.mssante.fr"
TOTAL = 1000
CLIENTS = 4
KILLS = 5


def test_kill9_during_load_loses_nothing(facteur_factory, operator, capsys):
    f = facteur_factory(max_sessions=2).start()
    acked = set()
    lock = threading.Lock()
    counter = iter(range(TOTAL))
    stop = threading.Event()

    def next_seq():
        with lock:
            return next(counter, None)

    def client():
        seq = next_seq()
        while seq is not None and not stop.is_set():
            try:
                with f.smtp(timeout=10) as s:
                    while seq is not None:
                        body = f"Subject: crash {seq}\r\nX-Seq: {seq}\r\n\r\n" + ("ligne de compte rendu\r\n" * 40)
                        s.sendmail(operator.env["CLIENT_MAILBOX"], [MAILBOX], body.encode())
                        with lock:
                            acked.add(seq)
                        seq = next_seq()
            except (smtplib.SMTPException, OSError):
                # No 250 for this one: the client moves on (it would retry
                # in real life; here that would blur the duplicate count).
                seq = next_seq()
                time.sleep(0.05)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    # Kill while messages are being received and delivered: at random
    # points spread over the run, measured in acknowledged messages.
    rng = random.Random()
    points = sorted(rng.sample(range(50, TOTAL - 50), KILLS))
    kill_report = []
    for point in points:
        while len(acked) < point and any(t.is_alive() for t in threads):
            time.sleep(0.001)
        time.sleep(rng.uniform(0, 0.05))
        kill_report.append(len(acked))
        f.kill9()
        f.start()
    for t in threads:
        t.join(300)
    stop.set()

    deadline = time.time() + 180
    delivered = Counter()
    while time.time() < deadline:
        delivered = Counter()
        for raw in operator.fetch_all(MAILBOX):
            m = re.search(rb"X-Seq: (\d+)", raw)
            if m:
                delivered[int(m.group(1))] += 1
        if acked <= set(delivered):
            break
        time.sleep(1)
    missing = sorted(acked - set(delivered))
    duplicates = sum(c - 1 for c in delivered.values() if c > 1)
    unacked_delivered = len(set(delivered) - acked)
    report = (
        f"crash: sent {TOTAL}, acknowledged {len(acked)}, delivered {len(delivered)}, "
        f"missing {len(missing)}, duplicates {duplicates}, delivered without 250 {unacked_delivered}, "
        f"kills {KILLS} (after {kill_report} acknowledgements)"
    )
    out = REPO / "target" / "test-reports"
    out.mkdir(parents=True, exist_ok=True)
    (out / "crash.txt").write_text(report + "\n")
    with capsys.disabled():
        print("\n" + report)
    assert len(acked) > TOTAL // 2, report
    assert len(kill_report) == KILLS and max(kill_report) < TOTAL, report
    assert missing == [], report
