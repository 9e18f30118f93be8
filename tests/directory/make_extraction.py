#!/usr/bin/env python3
"""Writes a realistic Annuaire Santé extraction (Extraction_Correspondance_MSSante)
for tests and measurements: a zip holding one pipe-separated .txt, the 31
published columns, CRLF line ends and a trailing `|` like the real file.

    tests/directory/make_extraction.py [N] [-o FILE.zip] [--seed S]

N data lines (default 100000): French names, professions and specialties,
towns with their postcodes, about 8 % organisational (ORG) mailboxes, about
2 % lines repeating an earlier mailbox, about 1 % lines encoded in
Windows-1252 instead of UTF-8, a few short lines, and the KNOWN entries
below at fixed places so tests can look for them. Python 3 standard
library only.
"""

import argparse
import io
import random
import sys
import zipfile
from pathlib import Path

HEADER = [
    "Type de BAL", "Adresse BAL", "Type Identifiant PP", "Identifiant PP",
    "Identification nationale PP", "Type identifiant structure", "Identification Structure",
    "Service de rattachement", "Civilité d'exercice", "Nom d'exercice", "Prénom d'exercice",
    "Catégorie profession", "Libellé de catégorie profession", "Code Profession",
    "Libellé Profession", "Code savoir-faire", "Libellé savoir-faire", "Dématérialisation",
    "Raison Sociale structure BAL", "Enseigne commerciale structure BAL",
    "L2COMPLEMENTLOCALISATION", "L3COMPLEMENTDISTRIBUTION", "L4NUMEROVOIE",
    "L4COMPLEMENTNUMEROVOIE", "NL4TYPEVOIE", "L4LIBELLEVOIE", "L5LIEUDITMENTION",
    "L6LIGNEACHEMINEMENT", "Code postal", "Département", "Pays",
]

FAMILY = """MARTIN BERNARD THOMAS PETIT ROBERT RICHARD DURAND DUBOIS MOREAU LAURENT SIMON MICHEL
LEFEBVRE LEROY ROUX DAVID BERTRAND MOREL FOURNIER GIRARD BONNET DUPONT LAMBERT FONTAINE ROUSSEAU
VINCENT MULLER LEFÈVRE FAURE ANDRÉ MERCIER BLANC GUÉRIN BOYER GARNIER CHEVALIER FRANÇOIS LEGRAND
GAUTHIER GARCIA PERRIN ROBIN CLÉMENT MORIN NICOLAS HENRY ROUSSEL MATHIEU GAUTIER MASSON MARCHAND
DUVAL DENIS DUMONT MARIE LEMAIRE NOËL MEYER DUFOUR MEUNIER BRUN BLANCHARD GIRAUD JOLY RIVIÈRE
LUCAS BRUNET GAILLARD BARBIER ARNAUD MARTINEZ GÉRARD ROCHE RENARD SCHMITT ROY LEROUX COLIN
VIDAL CARON PICARD ROGER FABRE AUBERT LEMOINE RENAUD DUMAS LACROIX OLIVIER PHILIPPE BOURGEOIS
PIERRE BENOÎT REY LECLERC PAYET ROLLAND LECLERCQ GUILLAUME LECOMTE LOPEZ JEAN DUPUY GUILLOT
HUBERT BERGER CARPENTIER SANCHEZ DUPUIS MOULIN LOUIS DESCHAMPS HUET VASSEUR PEREZ BOUCHER
FLEURY ROYER KLEIN JACQUET ADAM PARIS POIRIER MARTY AUBRY GUYOT CARRÉ CHARLES RENAULT CHARPENTIER
MÉNARD MAILLARD BARON BERTIN BAILLY HERVÉ SCHNEIDER FERNANDEZ LE_GALL COLLET LÉGER BOUVIER
JULIEN PRÉVOST MILLET PERROT DANIEL LE_ROUX COUSIN GERMAIN BRETON BESSON LANGLOIS RÉMY
PELLETIER LÉVÊQUE PERRIER LEBLANC BARRÉ LEBRUN MARCHAL WEBER MALLET HAMON BOULANGER JACOB
MONNIER MICHAUD RODRIGUEZ GUICHARD GILLET ÉTIENNE GRONDIN POULAIN TESSIER CHEVALLIER COLLIN
CHAUVIN DA_SILVA BOUCHET GAY LEMAÎTRE BENARD MARÉCHAL HUMBERT REYNAUD ANTOINE HOARAU
PERRET BARTHÉLEMY CORDIER PICHON LEJEUNE GILBERT LAMY DELAUNAY PASQUIER CARLIER LAPORTE
N'DIAYE D'ALMEIDA O'NEILL""".split()
FAMILY = [f.replace("_", " ") for f in FAMILY]

GIVEN_M = """Jean Pierre Michel André Philippe Alain Bernard Jacques Daniel Patrick Nicolas Christophe
Stéphane Éric Frédéric Laurent Olivier Sébastien Thierry David Julien Pascal François Guillaume
Thomas Vincent Jérôme Antoine Maxime Hugo Lucas Mathieu Benoît Cédric Rémi Loïc Gaël Noël Hervé
Jean-Marc Jean-François Paul-Henri""".split()
GIVEN_F = """Marie Nathalie Isabelle Sylvie Catherine Françoise Anne Christine Sandrine Valérie Sophie
Véronique Céline Stéphanie Aurélie Émilie Julie Camille Laure Élise Hélène Chloé Léa Manon Zoé
Agnès Bénédicte Mélanie Noémie Joëlle Gaëlle Maëlle Anne-Sophie Marie-Claire Marie-Hélène""".split()

# (code profession, libellé profession, [(code savoir-faire, libellé savoir-faire)])
PROFESSIONS = [
    ("10", "Médecin", [
        ("SM54", "Médecine générale"), ("SM04", "Cardiologie et maladies vasculaires"),
        ("SM15", "Dermatologie et vénéréologie"), ("SM40", "Pédiatrie"),
        ("SM26", "Gynécologie-obstétrique"), ("SM42", "Psychiatrie"),
        ("SM44", "Radiodiagnostic et imagerie médicale"), ("SM38", "Ophtalmologie"),
        ("SM39", "Oto-rhino-laryngologie (ORL)"), ("SM19", "Endocrinologie, diabétologie"),
        ("SM24", "Gastro-entérologie et hépatologie"), ("SM32", "Neurologie"),
        ("SM43", "Rhumatologie"), ("SM02", "Anesthésie-réanimation"),
    ]),
    ("21", "Pharmacien", [("", "")]),
    ("60", "Infirmier", [("", "")]),
    ("70", "Masseur-kinésithérapeute", [("", "")]),
    ("40", "Chirurgien-dentiste", [("", ""), ("SCD01", "Orthopédie dento-faciale")]),
    ("50", "Sage-femme", [("", "")]),
    ("91", "Orthophoniste", [("", "")]),
    ("80", "Pédicure-podologue", [("", "")]),
]

# (postcode, town, department)
TOWNS = [
    ("79000", "NIORT", "79"), ("79200", "PARTHENAY", "79"), ("79400", "ST MAIXENT L ECOLE", "79"),
    ("79300", "BRESSUIRE", "79"), ("86000", "POITIERS", "86"), ("86100", "CHATELLERAULT", "86"),
    ("17000", "LA ROCHELLE", "17"), ("17300", "ROCHEFORT", "17"), ("16000", "ANGOULEME", "16"),
    ("85000", "LA ROCHE SUR YON", "85"), ("44000", "NANTES", "44"), ("33000", "BORDEAUX", "33"),
    ("75012", "PARIS", "75"), ("75015", "PARIS", "75"), ("69003", "LYON", "69"),
    ("13005", "MARSEILLE", "13"), ("31000", "TOULOUSE", "31"), ("59000", "LILLE", "59"),
    ("67000", "STRASBOURG", "67"), ("35000", "RENNES", "35"), ("29200", "BREST", "29"),
    ("37000", "TOURS", "37"), ("45000", "ORLEANS", "45"), ("87000", "LIMOGES", "87"),
    ("63000", "CLERMONT FERRAND", "63"), ("21000", "DIJON", "21"), ("25000", "BESANCON", "25"),
    ("34000", "MONTPELLIER", "34"), ("06000", "NICE", "06"), ("20000", "AJACCIO", "2A"),
    ("97400", "ST DENIS", "974"), ("64000", "PAU", "64"), ("49000", "ANGERS", "49"),
    ("72000", "LE MANS", "72"), ("14000", "CAEN", "14"), ("76000", "ROUEN", "76"),
    ("80000", "AMIENS", "80"), ("51100", "REIMS", "51"), ("57000", "METZ", "57"),
    ("54000", "NANCY", "54"), ("38000", "GRENOBLE", "38"), ("74000", "ANNECY", "74"),
]
DEPARTMENTS = {"79": "Deux-Sèvres", "86": "Vienne", "17": "Charente-Maritime", "16": "Charente"}

STREETS = ["RUE", "AV", "BD", "PL", "CHE", "IMP", "ALL", "RTE"]
STREET_NAMES = """de la République|Victor Hugo|Jean Jaurès|du Général de Gaulle|Pasteur|des Écoles|
de l'Église|du Château|de la Gare|Gambetta|Émile Zola|des Lilas|du Marché|Saint-Jean|de Verdun|
du Moulin|des Acacias|Henri Dunant|de la Paix|Aristide Briand""".replace("\n", "").split("|")

ORG_KINDS = [
    ("CH", "Centre hospitalier", "accueil"), ("CLINIQUE", "Clinique", "secretariat"),
    ("MSP", "Maison de santé pluriprofessionnelle", "contact"), ("LABM", "Laboratoire de biologie", "resultats"),
    ("EHPAD", "EHPAD", "infirmerie"), ("CDS", "Centre de santé", "secretariat"),
    ("CABRAD", "Cabinet de radiologie", "comptes-rendus"),
]
ORG_SERVICES = ["Cardiologie", "Urgences", "Maternité", "Pédiatrie", "Oncologie", "Secrétariat médical", ""]

PERSON_DOMAINS = {
    "Médecin": "medecin.mssante.fr", "Pharmacien": "pharmacien.mssante.fr",
    "Infirmier": "infirmier.mssante.fr", "Masseur-kinésithérapeute": "masseur-kinesitherapeute.mssante.fr",
    "Chirurgien-dentiste": "chirurgien-dentiste.mssante.fr", "Sage-femme": "sage-femme.mssante.fr",
}

# Entries tests look for; (line index, fields dict, encoding).
KNOWN = [
    (7, dict(kind="PER", mailbox="helene.quevillon-testard@medecin.mssante.fr", rpps="10999000001",
             civ="DR", family="QUÉVILLON-TESTARD", given="Hélène", prof=("10", "Médecin"),
             sf=("SM40", "Pédiatrie"), town=("86000", "POITIERS", "86")), "utf-8"),
    (11, dict(kind="PER", mailbox="leon.cheneviere@medecin.mssante.fr", rpps="10999000002",
              civ="DR", family="CHÊNEVIÈRE", given="Léon", prof=("10", "Médecin"),
              sf=("SM04", "Cardiologie et maladies vasculaires"), town=("79000", "NIORT", "79")), "cp1252"),
    (13, dict(kind="ORG", mailbox="secretariat.cardio@ch-zephyrville.mssante.fr", rpps="",
              civ="", family="", given="", prof=("", ""), sf=("", ""),
              org="Centre hospitalier de Zéphyrville", service="Cardiologie",
              town=("79000", "NIORT", "79")), "utf-8"),
]
KNOWN_DUPLICATE_AT = 17  # repeats KNOWN[0]'s mailbox with other data


def strip_accents(text: str) -> str:
    import unicodedata
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def local_part(*words: str) -> str:
    out = []
    for w in words:
        w = strip_accents(w).lower().replace(" ", "-").replace("'", "")
        out.append(w)
    return ".".join(out)


def address_fields(rng, town):
    postcode, name, dep = town
    l2 = rng.choice(["", "", "", "Bâtiment B", "Résidence les Tilleuls", "2e étage"])
    l3 = rng.choice(["", "", "", "", "BP 1234"])
    num = str(rng.randint(1, 180))
    comp = rng.choice(["", "", "", "", "bis", "ter"])
    cedex = rng.random() < 0.05
    l6 = f"{postcode} {name}" + (f" CEDEX {rng.randint(1, 9)}" if cedex else "")
    dep_label = f"{dep} {DEPARTMENTS[dep]}" if dep in DEPARTMENTS else dep
    return [l2, l3, num, comp, rng.choice(STREETS), rng.choice(STREET_NAMES), "", l6, postcode, dep_label, "France"]


def person_row(rng, fields=None, serial=0):
    if fields is None:
        female = rng.random() < 0.55
        given = rng.choice(GIVEN_F if female else GIVEN_M)
        family = rng.choice(FAMILY)
        code, prof, sfs = rng.choice(PROFESSIONS)
        sf_code, sf = rng.choice(sfs)
        town = rng.choice(TOWNS)
        rpps = f"10{rng.randint(0, 999999999):09d}"
        civ = "DR" if prof in ("Médecin", "Chirurgien-dentiste", "Pharmacien") and rng.random() < 0.9 else rng.choice(["MME" if female else "M", ""])
        domain = PERSON_DOMAINS.get(prof, "mssante.fr")
        mailbox = f"{local_part(given, family)}{'' if serial == 0 else serial}@{domain}"
        adeli = prof in ("Infirmier", "Orthophoniste", "Pédicure-podologue") and rng.random() < 0.3
    else:
        given, family, civ, rpps = fields["given"], fields["family"], fields["civ"], fields["rpps"]
        code, prof = fields["prof"]
        sf_code, sf = fields["sf"]
        town, mailbox, adeli = fields["town"], fields["mailbox"], False
    if adeli:
        id_type, ident, national = "0", f"{rng.randint(0, 999999999):09d}", None
        national = "0" + ident
    else:
        id_type, ident, national = "8", rpps, "8" + rpps
    org = rng.choice(["", "", f"Cabinet médical {rng.choice(STREET_NAMES)}", f"Pharmacie {rng.choice(FAMILY).title()}"])
    return ["PER", mailbox, id_type, ident, national, "", "", "", civ, family, given,
            "C", "Civil", code, prof, sf_code, sf, "O", org, ""] + address_fields(rng, town)


def org_row(rng, fields=None, serial=0):
    if fields is None:
        short, kind, box = rng.choice(ORG_KINDS)
        town = rng.choice(TOWNS)
        name = f"{kind} {town[1].title()}" if rng.random() < 0.6 else f"{kind} {rng.choice(STREET_NAMES)}"
        service = rng.choice(ORG_SERVICES) if short in ("CH", "CLINIQUE") else ""
        dom = local_part(short, town[1]).replace(".", "-")
        mailbox = f"{box}{'' if serial == 0 else serial}@{dom}.mssante.fr"
        finess = f"{rng.randint(0, 999999999):09d}"
    else:
        name, service, town, mailbox, finess = fields["org"], fields["service"], fields["town"], fields["mailbox"], "790000001"
    return ["ORG", mailbox, "", "", "", "1", finess, service, "", "", "",
            "", "", "", "", "", "", "O", name, ""] + address_fields(rng, town)


def encode(row, encoding):
    text = "|".join(row) + "|\r\n"
    return text.encode(encoding, errors="replace")


def write_extraction(n: int, out: Path, seed: int = 1) -> dict:
    """Writes the zip; returns counts (lines, duplicates, latin1, short, org)."""
    rng = random.Random(seed)
    known = {i: (f, enc) for i, f, enc in KNOWN}
    seen = []
    counts = dict(lines=n, duplicates=0, latin1=0, short=0, org=0)
    buf = io.BytesIO()
    buf.write(encode(HEADER, "utf-8")[:-3] + b"\r\n")
    serial = 0
    for i in range(n):
        if i in known:
            fields, enc = known[i]
            row = (org_row if fields["kind"] == "ORG" else person_row)(rng, fields)
            if fields["kind"] == "ORG":
                counts["org"] += 1
            seen.append(row[1])
            if enc != "utf-8":
                counts["latin1"] += 1
            buf.write(encode(row, enc))
            continue
        if i == KNOWN_DUPLICATE_AT or (seen and rng.random() < 0.02):
            mailbox = KNOWN[0][1]["mailbox"] if i == KNOWN_DUPLICATE_AT else rng.choice(seen)
            row = person_row(rng)
            row[1] = mailbox.upper() if rng.random() < 0.5 else mailbox
            counts["duplicates"] += 1
            buf.write(encode(row, "utf-8"))
            continue
        if rng.random() < 0.0005:
            counts["short"] += 1
            buf.write(encode(person_row(rng, serial=0)[:12], "utf-8"))
            seen.append(None)
            seen.pop()
            continue
        serial += 1
        if rng.random() < 0.08:
            row = org_row(rng, serial=serial)
            counts["org"] += 1
        else:
            row = person_row(rng, serial=serial)
        seen.append(row[1])
        if rng.random() < 0.01:
            counts["latin1"] += 1
            buf.write(encode(row, "cp1252"))
        else:
            buf.write(encode(row, "utf-8"))
    stamp = "202601150400"
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"Extraction_Correspondance_MSSante_{stamp}.txt", buf.getvalue())
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=100000)
    parser.add_argument("-o", "--output", type=Path, default=Path("Extraction_Correspondance_MSSante_202601150400.zip"))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    counts = write_extraction(args.n, args.output, args.seed)
    print(f"{args.output}: " + " ".join(f"{k}={v}" for k, v in counts.items()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
