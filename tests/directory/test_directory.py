"""The directory end to end, at full size: a generated extraction of 100,000
lines (DIRECTORY_LINES to change it) imported by the release binary, known
entries searched for, then ~200 varied queries timed in-process
(`directory search --queries`). Timings are printed, not asserted: they
depend on the machine.

    cargo build --release -p facteur-gateway
    pytest -s tests/directory/test_directory.py
"""

import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
import make_extraction as gen  # noqa: E402

LINES = int(os.environ.get("DIRECTORY_LINES", "100000"))


def facteur_bin() -> str:
    explicit = os.environ.get("FACTEUR_BIN")
    if explicit:
        return explicit
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    candidate = target / "release" / "facteur"
    if not candidate.exists():
        pytest.fail(f"{candidate} not built: run cargo build --release -p facteur-gateway")
    return str(candidate)


WHITELIST = """<?xml version="1.0" encoding="UTF-8"?>
<ListeBlancheMSSante xmlns="https://listeblanche.mssante.fr/schema"><ListeDomaines>
<Domaine><Nom>medecin.mssante.fr</Nom></Domaine>
<Domaine><Nom>ch-zephyrville.mssante.fr</Nom></Domaine>
</ListeDomaines></ListeBlancheMSSante>
"""


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    """A minimal configuration (nothing it names needs to exist for these
    commands) and an imported directory."""
    work = tmp_path_factory.mktemp("directory")
    (work / "listeblanche.xml").write_text(WHITELIST)
    config = work / "facteur.toml"
    config.write_text(
        f"""data_dir = "{work / 'data'}"

[smtp]
listen = ["127.0.0.1:2587"]

[mssante]
mailbox = "cabinet@medecin.mssante.fr"
nil = "FACTEUR-TEST"
whitelist = "listeblanche.xml"

[upstream]
host = "operator.invalid"
trust_anchors = "anchors.pem"

[credential]
kind = "software"
pkcs12 = "box.p12"
pkcs12_password_file = "box.pass"
"""
    )
    extraction = work / "Extraction_Correspondance_MSSante_202601150400.zip"
    started = time.monotonic()
    counts = gen.write_extraction(LINES, extraction, seed=7)
    print(f"\ngenerated {LINES} lines in {time.monotonic() - started:.1f} s: {counts}")

    def run(*args, check=True):
        out = subprocess.run(
            [facteur_bin(), "--config", str(config), *args], capture_output=True, text=True
        )
        if check and out.returncode != 0:
            raise AssertionError(f"facteur {' '.join(args)}: {out.returncode}\n{out.stdout}\n{out.stderr}")
        return out

    started = time.monotonic()
    imported = run("directory", "import", str(extraction))
    wall = time.monotonic() - started
    print(imported.stdout.strip())
    print(f"import wall clock (process included): {wall:.2f} s")
    return dict(run=run, work=work, counts=counts, import_out=imported.stdout)


def search(box, *words, limit=20):
    out = box["run"]("directory", "search", "--json", "--limit", str(limit), "--", *words)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def test_import_report(box):
    m = re.search(
        r"imported (\d+) entries from (\d+) lines in ([\d.]+) s: (\d+) duplicates, (\d+) skipped, "
        r"(\d+) short lines, (\d+) latin-1 lines",
        box["import_out"],
    )
    assert m, box["import_out"]
    entries, lines, _secs, duplicates, skipped, short, latin1 = (
        int(m[1]), int(m[2]), float(m[3]), int(m[4]), int(m[5]), int(m[6]), int(m[7])
    )
    counts = box["counts"]
    assert lines == LINES + 1  # the header
    assert entries + duplicates + skipped == LINES
    assert duplicates >= counts["duplicates"]
    assert short == counts["short"]
    assert 0 < latin1 <= counts["latin1"]
    status = box["run"]("directory", "status", "--json")
    status = json.loads(status.stdout)
    assert status["entries"] == entries
    assert status["source"].startswith("Extraction_Correspondance_MSSante_")


def test_known_entries_are_found(box):
    # Accents and case ignored; the first of two lines with one address kept.
    found = search(box, "helene", "quevillon")
    assert found[0]["mailbox"] == "helene.quevillon-testard@medecin.mssante.fr"
    assert found[0]["family_name"] == "QUÉVILLON-TESTARD"
    assert found[0]["specialty"] == "Pédiatrie"
    # Prefixes of several fields, AND-ed.
    found = search(box, "quevil", "pedia", "poitiers")
    assert [e["mailbox"] for e in found] == ["helene.quevillon-testard@medecin.mssante.fr"]
    # A line in Windows-1252, read correctly.
    found = search(box, "cheneviere", "niort")
    assert found[0]["mailbox"] == "leon.cheneviere@medecin.mssante.fr"
    assert found[0]["given_name"] == "Léon"
    assert found[0]["town"] == "NIORT"
    assert found[0]["rpps"] == "10999000002"
    assert [e["mailbox"] for e in search(box, "10999000002")] == ["leon.cheneviere@medecin.mssante.fr"]
    # An organisational box, by its name and service.
    found = search(box, "zéphyr", "cardio")
    assert found[0]["mailbox"] == "secretariat.cardio@ch-zephyrville.mssante.fr"
    assert found[0]["mailbox_type"] == "ORG"
    # Limits and hostile text.
    assert len(search(box, "martin", limit=7)) == 7
    for hostile in ['"', "*", "-", "a:b", "(", "NEAR(x y)", "martin OR", "'; DROP TABLE entries; --"]:
        box["run"]("directory", "search", "--", hostile)
    assert search(box, "helene", "quevillon")


def test_contacts_from_directory_and_on_paper(box):
    run = box["run"]
    added = run("contacts", "add", "--from-directory", "Leon.Cheneviere@medecin.mssante.fr")
    assert "Dr CHÊNEVIÈRE Léon (Cardiologie et maladies vasculaires, Niort)" in added.stdout
    # Not in the directory: added, with a warning.
    added = run("contacts", "add", "--name", "Dr NOUVEAU Jean", "--mssante", "jean.nouveau@medecin.mssante.fr")
    assert "absente de l'annuaire" in added.stderr
    # Outside MSSanté: refused.
    refused = run("contacts", "add", "--name", "Dr X", "--mssante", "x@gmail.com", check=False)
    assert refused.returncode != 0 and "MSSanté" in refused.stderr
    run("contacts", "add", "--name", "Dr PAPIER Anne/Marie", "--postal-line", "3 rue du Marché",
        "--postcode", "79200", "--town", "Parthenay", "--profession", "dermatologue")
    contacts = [json.loads(l) for l in run("contacts", "list", "--json").stdout.splitlines()]
    assert len(contacts) == 3
    paper = next(c for c in contacts if c["mssante"] is None)
    assert paper["postal"]["postcode"] == "79200"
    listing = run("contacts", "list").stdout
    assert "Dr PAPIER Anne-Marie (dermatologue, Parthenay)" in listing
    run("contacts", "remove", str(paper["id"]))
    assert len(run("contacts", "list", "--json").stdout.splitlines()) == 2
    # The address book survives a re-import of the directory.
    run("directory", "import", str(next(box["work"].glob("*.zip"))))
    assert len(run("contacts", "list", "--json").stdout.splitlines()) == 2


def queries(n_target: int = 200) -> list:
    rng = random.Random(3)
    plain = lambda s: gen.strip_accents(s).lower()  # noqa: E731
    towns = [t[1] for t in gen.TOWNS]
    specialties = [sf for _, _, sfs in gen.PROFESSIONS for _, sf in sfs if sf] + [p for _, p, _ in gen.PROFESSIONS]
    q = []
    q += [plain(rng.choice(gen.FAMILY)) for _ in range(40)]
    q += [plain(rng.choice(gen.FAMILY))[: rng.randint(3, 4)] for _ in range(30)]
    q += [f"{rng.choice(gen.GIVEN_F + gen.GIVEN_M)} {rng.choice(gen.FAMILY)}" for _ in range(30)]
    q += [f"{plain(rng.choice(specialties)).split()[0][:6]} {plain(rng.choice(towns))}" for _ in range(25)]
    q += [rng.choice(towns).lower() for _ in range(15)] + [rng.choice(gen.TOWNS)[0] for _ in range(10)]
    q += [f"{plain(rng.choice(gen.FAMILY))} {rng.choice(towns).split()[0].lower()}" for _ in range(20)]
    q += ["10999000002", "810999000001", "helene.quevillon", "ch-zephyrville", "pharmacie", "clinique",
          "centre hospitalier", "maison de sante", "ehpad", "laboratoire"]
    q += ["a", "m", "ma", "de", "la", "jean", "marie", "dr", "rue", "79"]
    q += ['"', "*", "-x", "a:b", "(c", "NEAR(a b)", "x OR y", "NOT z", "'--", "é"]
    return q[:n_target]


def test_search_latency(box):
    qs = queries()
    qfile = box["work"] / "queries.txt"
    qfile.write_text("\n".join(qs) + "\n")
    out = box["run"]("directory", "search", "--limit", "20", "--queries", str(qfile))
    print(f"\nsearch latency over {len(qs)} queries, limit 20: {out.stdout.strip()}")
    m = re.search(r"queries=(\d+) hits=(\d+) p50_ms=([\d.]+) p95_ms=([\d.]+) max_ms=([\d.]+)", out.stdout)
    assert m, out.stdout
    assert int(m[1]) == len(qs)
    assert int(m[2]) > 0
