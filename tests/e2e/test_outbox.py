"""The document folder end to end: a PDF dropped in the box's outgoing
folder reaches the correspondent at the test operator as an MSSanté
document message (PDF + IHE_XDM.ZIP whose METADATA.XML validates against
the ebRIM 3.0 schemas); bad documents land in errors/ with a reason."""

import email
import email.policy
import hashlib
import io
import json
import os
import re
import subprocess
import threading
import time
import uuid
import zipfile
from pathlib import Path

import pytest

from pdfs import make_pdf

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "tests" / "fixtures" / "ebrim-3.0" / "lcm.xsd"
DEMO_TO = "dr.martin@medecin.test.mssante.fr"
# A test INS (INS-NIR de test OID) with a correct key.
TEST_INS = "279035121518989"


@pytest.fixture
def outbox_facteur(facteur_factory, tmp_path):
    def make(extra: str = "", **overrides):
        outbox = tmp_path / "outbox"
        f = facteur_factory(
            outbox=f"""[outbox]
folders = ["{outbox}"]
scan_interval = 1
settle_time = 1
sidecar_wait = 3
incomplete_timeout = {overrides.pop('incomplete_timeout', 60)}
{extra}
[outbox.author]
national_id = "810000000001"
family_name = "DUPONT"
given_name = "Jeanne"
specialty = "Médecin généraliste"
institution = "Cabinet du Dr Dupont"

[paper]
to_print_dir = "{tmp_path / 'to-print'}"
practice_name = "Cabinet du Dr Dupont"
practitioner = "Dr Jeanne DUPONT"
address_lines = ["12 rue des Lilas"]
postcode = "79000"
town = "Niort"
""",
            **overrides,
        ).start()
        f.outbox = outbox
        f.to_print = tmp_path / "to-print"
        return f

    return make


def wait_for(predicate, timeout=30.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def messages_with(operator, mailbox, needle: bytes):
    return [m for m in operator.fetch_all(mailbox) if needle in m]


def drop(folder: Path, name: str, data: bytes, sidecar: dict = None) -> Path:
    """Writes the way practice software does: to a temporary name, then a
    rename into place (sidecar first)."""
    folder.mkdir(parents=True, exist_ok=True)
    if sidecar is not None:
        tmp = folder / f".{name}.json.tmp"
        tmp.write_text(json.dumps(sidecar, ensure_ascii=False), encoding="utf-8")
        tmp.rename(folder / (Path(name).stem + ".json"))
    tmp = folder / f".{name}.tmp"
    tmp.write_bytes(data)
    tmp.rename(folder / name)
    return folder / name


def sidecar_for(marker: str, **extra) -> dict:
    data = {
        "to": [DEMO_TO],
        "receipt": True,
        "patient": {
            "ins": TEST_INS,
            "ins_oid": "1.2.250.1.213.1.4.10",
            "family_name": "Test",
            "given_names": ["Éloïse", "Marie"],
            "birth_date": "1979-03-25",
            "sex": "F",
        },
        "document": {
            "title": f"CR échographie {marker}",
            "type_code": "11490-0",
            "type_system": "2.16.840.1.113883.6.1",
            "class_code": "10",
            "date": "2026-11-20T09:30:00Z",
        },
    }
    data.update(extra)
    return data


def parts_of(raw: bytes):
    message = email.message_from_bytes(raw, policy=email.policy.default)
    attachments = {p.get_filename(): p.get_content() for p in message.iter_attachments()}
    return message, attachments


def xmllint_valid(xml: bytes, tmp_path: Path):
    path = tmp_path / "METADATA.XML"
    path.write_bytes(xml)
    return subprocess.run(
        ["xmllint", "--noout", "--nonet", "--schema", str(SCHEMA), str(path)],
        capture_output=True,
        text=True,
    )


def test_a_dropped_pdf_with_sidecar_arrives_as_a_valid_xdm_message(outbox_facteur, operator, tmp_path):
    f = outbox_facteur()
    marker = uuid.uuid4().hex[:10]
    pdf = make_pdf(f"Compte rendu {marker}", pages=2)
    drop(f.outbox, f"cr-{marker}.pdf", pdf, sidecar_for(marker))

    raw = wait_for(lambda: messages_with(operator, DEMO_TO, marker.encode()), what="the message at the operator")[0]
    message, attachments = parts_of(raw)
    assert message["Subject"] == f"XDM/1.0/DDM+CR échographie {marker} TEST Éloïse 25/03/1979"
    assert message["X-MSS-NIL"] == "FACTEUR-TEST"
    assert message["Disposition-Notification-To"]
    assert message["From"] == f.env["CLIENT_MAILBOX"]
    assert attachments[f"cr-{marker}.pdf"] == pdf

    archive = zipfile.ZipFile(io.BytesIO(attachments["IHE_XDM.ZIP"]))
    names = archive.namelist()
    for required in ["README.TXT", "INDEX.HTM", "IHE_XDM/SUBSET01/METADATA.XML", "IHE_XDM/SUBSET01/DOC0001.PDF"]:
        assert required in names, names
    assert archive.read("IHE_XDM/SUBSET01/DOC0001.PDF") == pdf
    metadata = archive.read("IHE_XDM/SUBSET01/METADATA.XML")
    result = xmllint_valid(metadata, tmp_path)
    assert result.returncode == 0, result.stderr
    text = metadata.decode()
    assert f'<rim:Slot name="hash"><rim:ValueList><rim:Value>{hashlib.sha1(pdf).hexdigest()}</rim:Value>' in text
    assert f'<rim:Slot name="size"><rim:ValueList><rim:Value>{len(pdf)}</rim:Value>' in text
    assert f"{TEST_INS}^^^&amp;1.2.250.1.213.1.4.10&amp;ISO^NH" in text
    assert "810000000001^DUPONT^Jeanne" in text
    assert 'nodeRepresentation="11490-0"' in text
    assert "urn:ihe:iti:xds-sd:pdf:2008" in text

    # Filed in sent/ with its sidecar once queued; tracked like mail.
    wait_for(lambda: (f.outbox / "sent" / f"cr-{marker}.pdf").exists(), what="the move to sent/")
    assert (f.outbox / "sent" / f"cr-{marker}.pdf.json").exists()
    assert not (f.outbox / f"cr-{marker}.pdf").exists()
    tracked = wait_for(
        lambda: [t for t in f.api("GET", "/v1/tracking")[1]["recipients"] if t["recipient"] == DEMO_TO and t["receipt_requested"]],
        what="tracking",
    )
    assert tracked

    # The CLI check agrees with the package that was sent.
    zip_path = tmp_path / "sent.zip"
    zip_path.write_bytes(attachments["IHE_XDM.ZIP"])
    check = f.cli("xdm", "check", str(zip_path))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "paquet valide" in check.stdout


@pytest.mark.parametrize("watch", ["notify", "poll"])
def test_a_file_written_slowly_is_not_sent_before_it_is_complete(outbox_facteur, operator, watch):
    f = outbox_facteur(f'watch = "{watch}"')
    marker = uuid.uuid4().hex[:10]
    pdf = make_pdf(f"Lent {marker}", pages=3)
    f.outbox.mkdir(parents=True, exist_ok=True)
    (f.outbox / f"slow-{marker}.json").write_text(json.dumps({"to": DEMO_TO}))
    path = f.outbox / f"slow-{marker}.pdf"
    chunks = [pdf[i : i + len(pdf) // 5 + 1] for i in range(0, len(pdf), len(pdf) // 5 + 1)]
    with open(path, "wb") as out:
        for chunk in chunks[:-1]:
            out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
            # Longer than settle_time: the size looks stable between
            # chunks, only the missing end marker holds the file back.
            time.sleep(2.5)
            assert path.exists(), "the file was taken while being written"
            assert not messages_with(operator, DEMO_TO, marker.encode()), "sent before complete"
        out.write(chunks[-1])
    found = wait_for(lambda: messages_with(operator, DEMO_TO, marker.encode()), what="the complete file")
    _, attachments = parts_of(found[0])
    assert attachments[f"slow-{marker}.pdf"] == pdf
    assert not (f.outbox / "errors").exists()
    time.sleep(2)
    assert len(messages_with(operator, DEMO_TO, marker.encode())) == 1


def test_the_file_name_convention_routes_without_a_sidecar(outbox_facteur, operator):
    f = outbox_facteur()
    marker = uuid.uuid4().hex[:10]
    drop(f.outbox, f"{DEMO_TO}__Bilan {marker}.pdf", make_pdf(marker))
    raw = wait_for(lambda: messages_with(operator, DEMO_TO, marker.encode()), what="the message")[0]
    message, _ = parts_of(raw)
    assert message["Subject"] == f"XDM/1.0/DDM+Bilan {marker}"


BAD_CASES = [
    # (name, data, sidecar, expected words in the .error.txt)
    ("rapport.docx", b"PK\x03\x04 word document", {"to": DEMO_TO}, "pas un PDF"),
    ("vide.pdf", b"", {"to": DEMO_TO}, "vide"),
    ("chiffre.pdf", make_pdf("secret", encrypt=True), {"to": DEMO_TO}, "mot de passe"),
    ("casse.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 9 0 R >>\ngarbage\n%%EOF\n", {"to": DEMO_TO}, "endommagé"),
    ("json-casse.pdf", make_pdf("x"), "{\"to\": [", "illisible"),
    ("cle-inconnue.pdf", make_pdf("x"), {"to": DEMO_TO, "recipient": "x"}, "clé inconnue"),
    ("hors-mssante.pdf", make_pdf("x"), {"to": "ami@gmail.com"}, "hors de l'espace de confiance"),
    ("ins-faux.pdf", make_pdf("x"), {"to": DEMO_TO, "patient": {"ins": "279035121518988", "family_name": "X"}}, "clé de l'INS est fausse"),
    ("contradiction.pdf", make_pdf("x"), {"to": DEMO_TO, "document": {"type_system": "2.16.840.1.113883.6.1"}}, "sans type_code"),
    ("sans-destinataire.pdf", make_pdf("x"), None, "aucun destinataire"),
]


def test_bad_documents_go_to_errors_with_a_french_reason_and_nothing_is_lost(outbox_facteur, operator):
    f = outbox_facteur()
    for name, data, sidecar, _ in BAD_CASES:
        f.outbox.mkdir(parents=True, exist_ok=True)
        if isinstance(sidecar, str):
            (f.outbox / (Path(name).stem + ".json")).write_text(sidecar)
            drop(f.outbox, name, data)
        else:
            drop(f.outbox, name, data, sidecar)
    # A 2 GB file (sparse: nothing written) is refused on its size, unread.
    with open(f.outbox / "enorme.pdf", "wb") as big:
        big.truncate(2 * 1024 ** 3)
    (f.outbox / "enorme.json").write_text(json.dumps({"to": DEMO_TO}))

    errors = f.outbox / "errors"
    expected = BAD_CASES + [("enorme.pdf", None, None, "plus que les")]
    for name, data, _, words in expected:
        report = errors / f"{name}.error.txt"
        wait_for(report.exists, timeout=30, what=f"{report.name}")
        text = report.read_text(encoding="utf-8")
        assert words in text, text
        assert "rien n'a été supprimé" in text
        kept = errors / name
        assert kept.exists(), name
        if data is not None:
            assert kept.read_bytes() == data
    assert (errors / "enorme.pdf").stat().st_size == 2 * 1024 ** 3
    assert (errors / "cle-inconnue.pdf.json").exists()

    # The watcher is still running: a good document after all that is sent,
    # names with right-to-left marks and odd characters included.
    marker = uuid.uuid4().hex[:10]
    odd = f"\u202eCR\u202c d'O'Brien & «Ça» {marker}.pdf"
    drop(f.outbox, odd, make_pdf(marker), sidecar_for(marker, patient={"family_name": "O'Brien\u200f", "given_names": "Zoé"}))
    raw = wait_for(lambda: messages_with(operator, DEMO_TO, marker.encode()), what="the good document")[0]
    message, attachments = parts_of(raw)
    assert "\u202e" not in message["Subject"]
    assert "O'BRIEN Zoé" in message["Subject"]
    assert any(marker in (name or "") for name in attachments)
    assert not list(errors.glob(f"*{marker}*"))


def test_xdm_build_and_check_from_the_command_line(outbox_facteur, tmp_path):
    f = outbox_facteur()
    marker = uuid.uuid4().hex[:10]
    document = tmp_path / "cr.pdf"
    document.write_bytes(make_pdf(marker))
    sidecar = tmp_path / "cr.json"
    sidecar.write_text(json.dumps(sidecar_for(marker)), encoding="utf-8")
    out = tmp_path / "out"
    built = f.cli("xdm", "build", "--document", str(document), "--sidecar", str(sidecar), "--out", str(out))
    assert built.returncode == 0, built.stderr
    assert (out / "cr.eml").exists()
    zip_bytes = (out / "IHE_XDM.ZIP").read_bytes()
    metadata = zipfile.ZipFile(io.BytesIO(zip_bytes)).read("IHE_XDM/SUBSET01/METADATA.XML")
    assert xmllint_valid(metadata, tmp_path).returncode == 0
    message = email.message_from_bytes((out / "cr.eml").read_bytes(), policy=email.policy.default)
    assert message["Subject"].startswith("XDM/1.0/DDM+CR échographie")

    check = f.cli("xdm", "check", str(out / "IHE_XDM.ZIP"))
    assert check.returncode == 0, check.stdout + check.stderr

    # A tampered document: the check names the hash and size, and fails.
    source = zipfile.ZipFile(io.BytesIO(zip_bytes))
    tampered = io.BytesIO()
    with zipfile.ZipFile(tampered, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename.endswith("DOC0001.PDF"):
                data += b"% altered\n"
            target.writestr(item, data)
    bad = tmp_path / "bad.zip"
    bad.write_bytes(tampered.getvalue())
    check = f.cli("xdm", "check", str(bad))
    assert check.returncode != 0
    assert "empreinte" in check.stdout and "taille" in check.stdout

    refused = f.cli("xdm", "build", "--document", str(document), "--to", "ami@gmail.com", "--out", str(out))
    assert refused.returncode != 0
    assert "trust space" in refused.stderr


def pdftotext(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def test_a_correspondent_without_mssante_gets_a_print_ready_letter(outbox_facteur, operator, tmp_path):
    f = outbox_facteur()
    marker = uuid.uuid4().hex[:10]
    pdf = make_pdf(f"Resultats {marker}", pages=2)
    sidecar = sidecar_for(
        marker,
        to=[],
        paper=[{"name": "Dr Paul MARTIN", "lines": ["Cabinet de cardiologie", "3 avenue de Paris"], "postcode": "17000", "town": "La Rochelle"}],
    )
    drop(f.outbox, f"papier-{marker}.pdf", pdf, sidecar)
    letters = wait_for(lambda: list(f.to_print.glob("*.pdf")), what="the letter in to-print/")
    assert len(letters) == 1
    info = subprocess.run(["pdfinfo", str(letters[0])], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^Pages:\s+3$", info, re.M), info
    text = pdftotext(letters[0])
    for expected in ["Dr Paul MARTIN", "3 avenue de Paris", "17000 LA ROCHELLE", f"CR échographie {marker}", f"Resultats {marker} - page 2"]:
        assert expected in text, (expected, text)
    rendered = subprocess.run(["pdftoppm", "-r", "30", "-png", str(letters[0]), str(tmp_path / "page")], capture_output=True)
    assert rendered.returncode == 0, rendered.stderr
    assert len(list(tmp_path.glob("page*.png"))) == 3
    wait_for(lambda: (f.outbox / "sent" / f"papier-{marker}.pdf").exists(), what="the move to sent/")
    tracked = [t for t in f.api("GET", "/v1/tracking")[1]["recipients"] if t["state"] == "paper"]
    assert len(tracked) == 1, tracked
    assert "17000 La Rochelle" in (tracked[0]["detail"] or ""), tracked
    summary = f.cli("paper", "summary", "--month", time.strftime("%Y-%m", time.gmtime()))
    assert summary.returncode == 0, summary.stderr
    assert "Dr Paul MARTIN" in summary.stdout
    assert not messages_with(operator, DEMO_TO, marker.encode())


def small_extraction(path: Path) -> Path:
    """An Annuaire Santé extraction with Dr MARTIN (the operator's test
    correspondent), in the published 31-column layout."""
    import sys

    sys.path.insert(0, str(REPO / "tests" / "directory"))
    from make_extraction import HEADER

    def line(**values):
        row = {name: "" for name in HEADER}
        row.update(values)
        return "|".join(row[name] for name in HEADER)

    martin = line(**{
        "Type de BAL": "PER", "Adresse BAL": DEMO_TO, "Type Identifiant PP": "8",
        "Identifiant PP": "10000000002", "Identification nationale PP": "810000000002",
        "Civilité d'exercice": "DR", "Nom d'exercice": "MARTIN", "Prénom d'exercice": "Paul",
        "Libellé Profession": "Médecin", "Libellé savoir-faire": "Cardiologie et maladies vasculaires",
        "L4NUMEROVOIE": "3", "NL4TYPEVOIE": "AV", "L4LIBELLEVOIE": "de Paris",
        "L6LIGNEACHEMINEMENT": "79000 NIORT", "Code postal": "79000", "Département": "79",
    })
    path.write_text("\n".join(["|".join(HEADER), martin]) + "\n", encoding="utf-8")
    return path


def test_correspondent_folders_from_the_address_book_and_directory_warnings(outbox_facteur, operator, tmp_path):
    f = outbox_facteur()
    imported = f.cli("directory", "import", str(small_extraction(tmp_path / "extraction.txt")))
    assert imported.returncode == 0, imported.stderr

    # A correspondent on MSSanté, from the directory: his folder appears.
    added = f.cli("contacts", "add", "--from-directory", DEMO_TO)
    assert added.returncode == 0, added.stderr
    folders = [p for p in f.outbox.iterdir() if p.is_dir() and "MARTIN" in p.name]
    assert len(folders) == 1, list(f.outbox.iterdir())
    marker = uuid.uuid4().hex[:10]
    drop(folders[0], f"echo-{marker}.pdf", make_pdf(marker))
    raw = wait_for(lambda: messages_with(operator, DEMO_TO, marker.encode()), what="the folder's document")[0]
    message, _ = parts_of(raw)
    assert message["Subject"] == f"XDM/1.0/DDM+echo-{marker}"
    wait_for(lambda: (f.outbox / "sent" / f"echo-{marker}.pdf").exists(), what="the move to sent/")

    # A correspondent reached on paper: dropping in his folder prints.
    added = f.cli("contacts", "add", "--name", "Dr Luc DURAND", "--postal-line", "5 rue des Halles",
                  "--postcode", "17000", "--town", "La Rochelle", "--profession", "rhumatologue")
    assert added.returncode == 0, added.stderr
    durand = wait_for(lambda: [p for p in f.outbox.iterdir() if p.is_dir() and "DURAND" in p.name], what="his folder")[0]
    marker = uuid.uuid4().hex[:10]
    drop(durand, f"bilan-{marker}.pdf", make_pdf(marker))
    letters = wait_for(lambda: [p for p in f.to_print.glob("*.pdf") if marker in p.name], what="the letter")
    assert "Dr Luc DURAND" in pdftotext(letters[0])

    # Mail to a whitelisted address the directory does not list is
    # accepted, with a warning in the reply; a listed one is not warned.
    with f.smtp() as client:
        client.mail(f.env["CLIENT_MAILBOX"])
        code, text = client.rcpt("inconnu@medecin.test.mssante.fr")
        assert code == 250 and b"annuaire" in text, text
        code, text = client.rcpt(DEMO_TO)
        assert code == 250 and b"annuaire" not in text, text
        client.rset()


def test_a_full_disk_sends_the_document_to_errors_and_loses_nothing(outbox_facteur, operator, tmp_path):
    """The queue on a small file system that fills up: the document cannot
    be queued, it goes to errors/ saying the disk is full, and the next one
    goes out once there is room again."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    data = tmp_path / "small"
    data.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(data)], check=True)
    try:
        f = outbox_facteur(data_dir=str(data / "facteur"))
        filler = data / "filler"
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)
        marker = uuid.uuid4().hex[:10]
        pdf = make_pdf(marker, pages=40)
        drop(f.outbox, f"plein-{marker}.pdf", pdf, {"to": DEMO_TO})
        report = f.outbox / "errors" / f"plein-{marker}.pdf.error.txt"
        wait_for(report.exists, what="the error report")
        assert "disque" in report.read_text(encoding="utf-8")
        assert (f.outbox / "errors" / f"plein-{marker}.pdf").read_bytes() == pdf
        assert not messages_with(operator, DEMO_TO, marker.encode())

        filler.unlink()
        again = uuid.uuid4().hex[:10]
        drop(f.outbox, f"retour-{again}.pdf", make_pdf(again), {"to": DEMO_TO})
        wait_for(lambda: messages_with(operator, DEMO_TO, again.encode()), what="the next document")
        f.stop()
    finally:
        subprocess.run(["umount", "-l", str(data)], check=False)
