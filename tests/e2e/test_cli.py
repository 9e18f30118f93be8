"""The command line as an installer meets it: config checks and errors."""

import subprocess

from facteur_harness import Facteur, facteur_bin


def run(*args, input=None):
    return subprocess.run([facteur_bin(), *args], capture_output=True, text=True, input=input, timeout=60)


def test_check_accepts_a_good_configuration(operator, tmp_path):
    f = Facteur(tmp_path, operator.env)
    out = run("--config", str(f.config_path), "check")
    assert out.returncode == 0, out.stderr
    assert "whitelist: 3 domains" in out.stdout
    assert "cabinet.dupont@test.mssante.fr" in out.stdout


def test_bad_configuration_names_file_and_key(operator, tmp_path):
    f = Facteur(tmp_path, operator.env)
    text = f.config_path.read_text().replace("max_recipients = 50", "max_recipients = 0")
    f.config_path.write_text(text)
    out = run("--config", str(f.config_path), "run")
    assert out.returncode != 0
    assert f"{f.config_path}: key `smtp.max_recipients`: must be greater than 0" in out.stderr


def test_wrong_pkcs12_password_is_reported(operator, tmp_path):
    bad = tmp_path / "wrong.pass"
    bad.write_text("not the password\n")
    f = Facteur(
        tmp_path,
        operator.env,
        credential=f'kind = "software"\npkcs12 = "{operator.env["CLIENT_P12"]}"\npkcs12_password_file = "{bad}"\n',
    )
    out = run("--config", str(f.config_path), "check")
    assert out.returncode != 0
    assert "wrong password for the PKCS#12 file" in out.stderr


def test_mismatched_key_is_reported(operator, tmp_path):
    f = Facteur(
        tmp_path,
        operator.env,
        credential=f'kind = "software"\ncertificate = "{operator.env["CLIENT_CERT"]}"\nkey = "{operator.env["PRACTITIONER_KEY"]}"\n',
    )
    out = run("--config", str(f.config_path), "check")
    assert out.returncode != 0
    assert "does not match the certificate" in out.stderr


def test_hash_password_refuses_short_passwords():
    out = run("hash-password", input="short\n")
    assert out.returncode != 0
    out = run("hash-password", input="long enough password\n")
    assert out.returncode == 0
    assert out.stdout.startswith("$argon2id$")
