"""The address book, health directory and paper pages end to end: a
daemon with a document folder, paper letters and an imported directory,
facteur-web on loopback, and a real browser (tests/web/directory.spec.mjs)
that searches the directory, adds a correspondent (whose drop folder must
appear on disk), downloads an invitation letter from the paper page (a
real PDF: pdftotext reads it) and finds a document by its patient."""

import json
import os
import re
import subprocess
import uuid
from pathlib import Path

from pdfs import make_pdf
from test_outbox import DEMO_TO, drop, outbox_facteur, sidecar_for, small_extraction, wait_for  # noqa: F401
from test_web import Web, ensure_node_modules, run_spec


def pdftotext(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def test_directory_contacts_and_paper_in_a_browser(outbox_facteur, operator, tmp_path):
    ensure_node_modules()
    f = outbox_facteur()
    imported = f.cli("directory", "import", str(small_extraction(tmp_path / "extraction.txt")))
    assert imported.returncode == 0, imported.stderr

    # A document about a patient to Dr MARTIN by MSSanté, and one on paper
    # to Dr DURAND (not on MSSanté): this month's paper report has him.
    marker = uuid.uuid4().hex[:10]
    drop(f.outbox, f"mail-{marker}.pdf", make_pdf(marker), sidecar_for(marker))
    paper_marker = uuid.uuid4().hex[:10]
    durand = {"name": "Dr Luc DURAND", "lines": ["5 rue des Halles"], "postcode": "17000", "town": "La Rochelle"}
    drop(f.outbox, f"papier-{paper_marker}.pdf", make_pdf(paper_marker), sidecar_for(paper_marker, to=[], paper=[durand]))
    wait_for(lambda: (f.outbox / "sent" / f"papier-{paper_marker}.pdf").exists(), what="the paper letter")
    wait_for(lambda: (f.outbox / "sent" / f"mail-{marker}.pdf").exists(), what="the mailed document")

    checked = {}

    def answer(what: str) -> str:
        kind, _, value = what.partition(" ")
        if kind == "folder":
            folder = f.outbox / value
            wait_for(folder.is_dir, timeout=5, what=f"drop folder {folder}")
            checked["folder"] = value
            return value
        if kind == "invitation":
            path = Path(value)
            assert path.read_bytes().startswith(b"%PDF-")
            info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
            assert re.search(r"^Pages:\s+1$", info, re.M), info
            text = pdftotext(path)
            for expected in [
                "Cabinet du Dr Dupont",
                "Dr Luc DURAND",
                "5 rue des Halles",
                "17000 LA ROCHELLE",
                "invitation à rejoindre la messagerie sécurisée de santé MSSanté",
                "un courrier sur papier",
                f.env["CLIENT_MAILBOX"],
            ]:
                assert expected in " ".join(text.split()), (expected, text)
            checked["invitation"] = text
            return "pdf"
        raise AssertionError(f"unknown request {what}")

    web = Web(tmp_path / "web", f.control_socket).start()
    try:
        result = run_spec("directory.spec.mjs", web, answer)
    finally:
        web.stop()
    assert set(checked) == {"folder", "invitation"}, checked
    assert result["download_name"] == "invitation-mssante.pdf"
    assert all(v == [] for v in result["axe"].values()), result["axe"]
    # The additions and removal are in the audit log under the admin's
    # name; the patient appears in no log.
    listed = f.cli("audit", "list", "--json", "--limit", "1000")
    entries = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
    acted = [e["action"] for e in entries if e["actor"] == "web:admin"]
    assert "contact_added" in acted and "contact_removed" in acted, acted
    assert f.cli("audit", "verify").returncode == 0
    for log in (web.log(), f.log(), listed.stdout):
        assert "Éloïse" not in log and "279035121518989" not in log
    # The drop folder stays after the removal.
    assert (f.outbox / checked["folder"]).is_dir()
