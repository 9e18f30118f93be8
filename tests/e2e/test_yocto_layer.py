"""Checks of the Yocto layer (yocto-layer/meta-facteur) that need no bitbake.

The image itself is built on a build host (docs/building-the-image.md);
here: the crate lists against Cargo.lock, oelint-adv, and what
bitbake-layers, wic and RAUC would otherwise only find out there.
"""

import configparser
import hashlib
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
YOCTO = REPO / "yocto-layer"
LAYER = YOCTO / "meta-facteur"
SCRIPT = YOCTO / "scripts" / "update-crates-inc"
LINT_DOC = REPO / "docs" / "building-the-image.md"
MACHINES = ("raspberrypi4-64", "qemux86-64")

# Recipes the layer's .bbappend files may extend, and the layer each comes from.
UPSTREAM_RECIPES = {
    "rauc-conf": "meta-rauc",
    "rpi-u-boot-scr": "meta-raspberrypi",
    "linux-raspberrypi": "meta-raspberrypi",
}

HARDENING = {
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "NoNewPrivileges": "yes",
    "PrivateTmp": "yes",
    "Restart": "on-failure",
}


def run(*args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=120, **kw)


def recipe_files(*patterns):
    return sorted(p for pat in patterns for p in LAYER.rglob(pat))


def assignments(path: Path) -> dict[str, str]:
    """`VAR op "value"` lines (continuations joined); the last one wins."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = {}
    for m in re.finditer(r'^([A-Za-z0-9_\-:${}./\[\]]+)\s*(\?\?=|\?=|:=|\+=|=\+|\.=|=)\s*"(.*)"\s*$',
                         text, re.M):
        name, op, value = m.groups()
        value = " ".join(value.split())
        out[name] = (out.get(name, "") + " " + value).strip() if op in ("+=", ".=") else value
    return out


def unit(path: Path) -> dict[str, list[str]]:
    """A systemd unit as key -> values (keys repeat, e.g. DeviceAllow)."""
    keys: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        k, _, v = line.partition("=")
        keys.setdefault(k.strip(), []).append(v.strip())
    return keys


# --- crate lists ----------------------------------------------------------

def test_crate_lists_match_cargo_lock():
    r = run(sys.executable, str(SCRIPT), "--check")
    assert r.returncode == 0, r.stdout + r.stderr


def test_crate_check_fails_when_a_crate_version_changes(tmp_path):
    lock = tmp_path / "Cargo.lock"
    text = (REPO / "Cargo.lock").read_text()
    m = re.search(r'\[\[package\]\]\nname = "([^"]+)"\nversion = "([^"]+)"\nsource = "registry', text)
    assert m, "no registry package in Cargo.lock"
    name, version = m.groups()
    bumped = version + "-changed"
    lock.write_text(text.replace(f'name = "{name}"\nversion = "{version}"',
                                 f'name = "{name}"\nversion = "{bumped}"', 1))
    layer = tmp_path / "meta-facteur"
    shutil.copytree(LAYER / "recipes-facteur", layer / "recipes-facteur")

    r = run(sys.executable, str(SCRIPT), "--check", "--lock", str(lock), "--layer", str(layer))
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"crate://crates.io/{name}/{bumped}" in r.stderr
    assert f"crate://crates.io/{name}/{version} " in r.stderr

    # Writing then brings the copy in line again.
    assert run(sys.executable, str(SCRIPT), "--lock", str(lock), "--layer", str(layer)).returncode == 0
    r = run(sys.executable, str(SCRIPT), "--check", "--lock", str(lock), "--layer", str(layer))
    assert r.returncode == 0, r.stderr
    assert f"SRC_URI[{name}-{bumped}.sha256sum]" in (layer / "recipes-facteur/facteur/facteur-crates.inc").read_text()


def test_crate_script_refuses_git_dependencies(tmp_path):
    lock = tmp_path / "Cargo.lock"
    lock.write_text((REPO / "Cargo.lock").read_text() + '\n[[package]]\nname = "from-git"\nversion = "0.1.0"\n'
                    'source = "git+https://example.org/x.git#0123456789abcdef0123456789abcdef01234567"\n')
    r = run(sys.executable, str(SCRIPT), "--check", "--lock", str(lock), "--layer", str(tmp_path))
    assert r.returncode == 2
    assert "from-git 0.1.0 comes from git" in r.stderr


def test_crate_lists_hold_every_registry_package_and_no_member():
    lock = tomllib.loads((REPO / "Cargo.lock").read_text())
    registry = {f"{p['name']}/{p['version']}" for p in lock["package"] if "crates.io" in p.get("source", "")}
    members = {p["name"] for p in lock["package"] if "source" not in p}
    for recipe in ("facteur", "facteur-web"):
        inc = (LAYER / "recipes-facteur" / recipe / f"{recipe}-crates.inc").read_text()
        listed = set(re.findall(r"crate://crates\.io/(\S+)", inc))
        assert listed == registry
        sums = re.findall(r'^SRC_URI\[(\S+)\.sha256sum\] = "[0-9a-f]{64}"$', inc, re.M)
        assert len(sums) == len(registry)
        assert not {m for m in members if f"crates.io/{m}/" in inc}


# --- oelint-adv -----------------------------------------------------------

def accepted_lint_warnings() -> dict[str, str]:
    """The table under « Lint warnings » in docs/building-the-image.md."""
    text = LINT_DOC.read_text()
    section = text.split("## Lint warnings", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\|\s*`(oelint\.[^`]+)`\s*\|\s*(.+?)\s*\|\s*$", section, re.M)
    return {rule: reason for rule, reason in rows}


def lint_targets():
    return [str(p) for p in recipe_files("*.bb", "*.bbappend", "*.inc")] + \
        [str(p) for p in sorted((LAYER / "conf").rglob("*.conf"))]


def oelint(*targets):
    return run(sys.executable, "-m", "oelint_adv", "--quiet", "--release", "wrynose",
               "--extra-layer", "rauc", "openembedded-layer", "networking-layer",
               "--constantmods", "+" + str(YOCTO / "oelint-constants.json"),
               "--messageformat", "{path}:{line}:{severity}:{id}:{msg}",
               "--", *targets, cwd=LAYER)


def findings(output: str):
    out = []
    for line in output.splitlines():
        m = re.match(r"^(.*?):(\d+):(error|warning|info):([^:]+):(.*)$", line)
        if m:
            out.append(m.groups())
    return out


def test_oelint_adv_finds_no_error_and_only_explained_warnings():
    version = run(sys.executable, "-m", "oelint_adv", "--version")
    assert version.returncode == 0, "oelint-adv is missing: run tests/setup/install-deps.sh"
    r = oelint(*lint_targets())
    found = findings(r.stdout + r.stderr)
    errors = [f for f in found if f[2] == "error"]
    assert not errors, "\n".join(":".join(f) for f in errors)
    accepted = accepted_lint_warnings()
    assert accepted, "no accepted warning table in docs/building-the-image.md"
    unexplained = [f for f in found if f[2] == "warning" and f[3] not in accepted]
    assert not unexplained, "warnings not explained in docs/building-the-image.md:\n" + \
        "\n".join(":".join(f) for f in unexplained)
    assert all(len(reason) > 20 for reason in accepted.values())


def test_oelint_adv_does_report_a_bad_recipe(tmp_path):
    # The lint is wired up: a recipe breaking the rules gets errors.
    bad = tmp_path / "recipes-x" / "bad" / "bad.bb"
    bad.parent.mkdir(parents=True)
    bad.write_text('LICENSE = "CLOSED"\nSRC_URI += " file://x"\ndo_install() {\n    mkdir -p ${D}/x\n}\n')
    found = findings((lambda r: r.stdout + r.stderr)(oelint(str(bad))))
    assert any(f[2] == "error" for f in found), found


def test_inline_lint_suppressions_give_their_reason():
    for path in recipe_files("*.bb", "*.bbappend", "*.inc"):
        for line in path.read_text().splitlines():
            if "nooelint:" in line:
                assert re.search(r"nooelint: \S+ - \S.{10,}", line), f"{path}: {line}"


# --- layer structure ------------------------------------------------------

def test_layer_conf_declares_the_collection():
    conf = assignments(LAYER / "conf" / "layer.conf")
    assert "facteur" in conf["BBFILE_COLLECTIONS"].split()
    assert conf["BBFILE_PATTERN_facteur"] == "^${LAYERDIR}/"
    assert conf["BBFILE_PRIORITY_facteur"].isdigit()
    assert conf["LAYERVERSION_facteur"].isdigit()
    assert conf["LAYERSERIES_COMPAT_facteur"].split() == ["wrynose"]
    depends = conf["LAYERDEPENDS_facteur"].split()
    for needed in ("core", "openembedded-layer", "networking-layer", "rauc", "wrynose-rust-mixin"):
        assert needed in depends
    assert "${LAYERDIR}/recipes-*/*/*.bb" in conf["BBFILES"]
    # Every recipe is where BBFILES or BBFILES_DYNAMIC look.
    for path in recipe_files("*.bb", "*.bbappend"):
        rel = path.relative_to(LAYER).parts
        assert len(rel) == 3 and rel[0].startswith("recipes-") or \
            len(rel) == 5 and rel[:2] == ("dynamic-layers", "raspberrypi"), path


def test_bbappends_extend_known_upstream_recipes():
    appends = recipe_files("*.bbappend")
    assert appends
    for path in appends:
        name = re.sub(r"_[^_]*$", "", path.stem)
        assert name in UPSTREAM_RECIPES, f"{path.name} extends no known recipe"
        if UPSTREAM_RECIPES[name] == "meta-raspberrypi":
            assert "dynamic-layers/raspberrypi" in str(path), f"{path}: needs meta-raspberrypi"
        # Yocto-compatible: nothing changes unless the facteur distro is used.
        for m in re.finditer(r"^([A-Za-z_][\w:${}-]*?)(?:\[[^\]]*\])?\s*(?:\?\?=|\?=|:=|\+=|=|\(\))", path.read_text(), re.M):
            var = m.group(1)
            if "[" in m.group(0).split("=")[0]:
                continue
            assert ":facteur" in var, f"{path.name}: {var} applies outside DISTRO = facteur"


def file_dirs(recipe: Path) -> list[Path]:
    base = recipe.parent
    pn = re.sub(r"_[^_]*$", "", recipe.stem)
    dirs = [base / "files", base / pn]
    return [d / m for d in dirs for m in MACHINES] + dirs


def test_every_file_uri_exists():
    for recipe in recipe_files("*.bb", "*.bbappend"):
        text = re.sub(r"\\\n", " ", recipe.read_text())
        for m in re.finditer(r'^SRC_URI[^=]*=\s*"([^"]*)"', text, re.M):
            for uri in re.findall(r"file://([^\s;\"]+)", m.group(1)):
                if "${" in uri:
                    continue
                assert any((d / uri).is_file() for d in file_dirs(recipe)), f"{recipe.name}: file://{uri}"
    # rauc-conf's own SRC_URI names system.conf: each machine has one.
    for machine in MACHINES:
        assert (LAYER / "recipes-core/rauc/files" / machine / "system.conf").is_file()


def test_recipe_licence_checksum_matches_the_workspace():
    inc = (LAYER / "recipes-facteur" / "facteur-source.inc").read_text()
    m = re.search(r'LIC_FILES_CHKSUM = "file://Cargo.toml;beginline=(\d+);endline=(\d+);md5=([0-9a-f]{32})"', inc)
    assert m
    begin, end, md5 = int(m.group(1)), int(m.group(2)), m.group(3)
    lines = (REPO / "Cargo.toml").read_text().splitlines(keepends=True)[begin - 1:end]
    assert hashlib.md5("".join(lines).encode()).hexdigest() == md5
    license = tomllib.loads((REPO / "Cargo.toml").read_text())["workspace"]["package"]["license"]
    assert f'LICENSE = "{license}"' in inc


def test_recipes_build_existing_packages_and_binaries():
    workspace = tomllib.loads((REPO / "Cargo.toml").read_text())["workspace"]["members"]
    packages = {}
    for member in workspace:
        manifest = tomllib.loads((REPO / member / "Cargo.toml").read_text())
        packages[manifest["package"]["name"]] = [b["name"] for b in manifest.get("bin", [])]
    for recipe, package, binary in (("facteur/facteur_git.bb", "facteur-gateway", "facteur"),
                                    ("facteur-web/facteur-web_git.bb", "facteur-web-admin", "facteur-web")):
        text = (LAYER / "recipes-facteur" / recipe).read_text()
        assert f'CARGO_BUILD_FLAGS += "-p {package}"' in text
        assert binary in packages[package]
        assert re.search(r"^require \$\{BPN\}-crates\.inc$", text, re.M)
    assert "facteur-card-sim" not in (LAYER / "recipes-core/packagegroups/packagegroup-facteur.bb").read_text()
    src = (LAYER / "recipes-facteur" / "facteur-source.inc").read_text()
    assert "AUTOREV" in src and "SkipRecipe" in src and "FACTEUR_RELEASE" in src


def test_no_key_or_certificate_in_the_layer():
    for path in YOCTO.rglob("*"):
        if path.is_file():
            assert path.suffix not in (".pem", ".key", ".crt", ".der", ".p12"), path
            text = path.read_text(errors="replace")
            assert not re.search(r"-----BEGIN [A-Z ]+-----\s*\n[A-Za-z0-9+/=]{40,}", text), path


# --- systemd units, configuration -----------------------------------------

def units(kind):
    return recipe_files(f"*.{kind}")


def test_services_are_hardened():
    services = units("service")
    assert {p.name for p in services} >= {"facteur.service", "facteur-web.service", "facteur-web-control.service"}
    for path in services:
        u = unit(path)
        for key, value in HARDENING.items():
            assert u.get(key) == [value], f"{path.name}: {key}={value}"
        assert "CapabilityBoundingSet" in u, path.name
        assert u.get("User", ["root"])[0] not in ("root", ""), path.name
        for rw in " ".join(u.get("ReadWritePaths", [])).split():
            assert rw.startswith("/data/"), f"{path.name}: ReadWritePaths={rw}"

    daemon = unit(LAYER / "recipes-facteur/facteur/files/facteur.service")
    assert daemon["Type"] == ["notify"] and daemon["WatchdogSec"]
    assert daemon["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"]
    assert daemon["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]
    assert daemon["DevicePolicy"] == ["closed"]
    allowed = " ".join(daemon["DeviceAllow"])
    for dev in ("char-gpiochip", "char-i2c", "char-watchdog", "/dev/watchdog"):
        assert dev in allowed
    assert daemon["SupplementaryGroups"] == ["facteur-board"]
    assert "pcscd.socket" in daemon["After"][0]
    proxy = unit(LAYER / "recipes-facteur/facteur-web/files/facteur-web-control.service")
    assert proxy["CapabilityBoundingSet"] == [""] and proxy["PrivateNetwork"] == ["yes"]

    for recipe in recipe_files("*.bb"):
        for value in assignments(recipe).get("SYSTEMD_SERVICE:${PN}", "").split():
            assert any((d / value).is_file() for d in file_dirs(recipe)), f"{recipe.name}: {value}"


def config(name, **subst):
    text = (LAYER / "recipes-facteur" / name).read_text()
    for k, v in subst.items():
        text = text.replace(f"@{k}@", v)
    return tomllib.loads(text)


def test_daemon_and_web_admin_configuration_fit_the_units():
    daemon = config("facteur/files/facteur.toml", FACTEUR_NIL="X", FACTEUR_LAN_INTERFACE="end0",
                    FACTEUR_BOARD="rpi4-cm4", FACTEUR_IMAGE_VERSION="0.1.0", FACTEUR_UPDATE_WINDOW="02:00-05:00",
                    FACTEUR_FLEET_SERVER="https://fleet.example/DEFAULT")
    update = daemon["update"]
    assert update["server"] == "https://fleet.example/DEFAULT" and update["running_version"] == "0.1.0"
    assert update["controller_id_file"].startswith(daemon["data_dir"] + "/factory/")
    assert update["target_token_file"].startswith(daemon["data_dir"] + "/factory/")
    # Without a fleet server the recipe deletes the lines marked "fleet".
    text = (LAYER / "recipes-facteur/facteur/files/facteur.toml").read_text()
    manual = tomllib.loads("\n".join(line for line in text.splitlines() if not line.endswith("# fleet")))
    assert set(manual["update"]) == {"running_version", "window"}
    bb = (LAYER / "recipes-facteur/facteur/facteur_git.bb").read_text()
    for placeholder in re.findall(r"@(FACTEUR_[A-Z_]+)@", text):
        assert f"@{placeholder}@" in bb, f"the recipe never replaces @{placeholder}@"
    web = config("facteur-web/files/web.toml")
    d_unit = unit(LAYER / "recipes-facteur/facteur/files/facteur.service")
    w_unit = unit(LAYER / "recipes-facteur/facteur-web/files/facteur-web.service")
    sock = unit(LAYER / "recipes-facteur/facteur-web/files/facteur-web-control.socket")
    proxy = unit(LAYER / "recipes-facteur/facteur-web/files/facteur-web-control.service")

    rw = d_unit["ReadWritePaths"][0].split()
    assert daemon["data_dir"] in rw and daemon["network"]["networkd_dir"] in rw
    assert Path(daemon["control"]["socket"]).parent == Path("/run") / d_unit["RuntimeDirectory"][0]
    assert proxy["ExecStart"][0].split()[-1] == daemon["control"]["socket"]
    assert web["control_socket"] == sock["ListenStream"][0]
    assert sock["SocketUser"] == ["facteur"] and sock["SocketGroup"] == ["facteur-web"]
    assert sock["SocketMode"] == ["0660"]
    assert w_unit["ReadWritePaths"] == [web["state_dir"]]
    assert "--config /etc/facteur/facteur.toml" in d_unit["ExecStart"][0]
    assert "--config /etc/facteur/web.toml" in w_unit["ExecStart"][0]
    assert (REPO / "board/descriptions/rpi4-cm4.toml").is_file()
    assert (REPO / "board/descriptions/generic.toml").is_file()

    tmpfiles = (LAYER / "recipes-facteur/facteur/files/facteur-tmpfiles.conf").read_text()
    assert re.search(rf"^d {daemon['data_dir']} 0700 facteur facteur", tmpfiles, re.M)
    assert re.search(rf"^d {daemon['network']['networkd_dir']} 0755 facteur facteur", tmpfiles, re.M)
    assert f"/run/systemd/network/10-facteur-lan.network - - - - {daemon['network']['networkd_dir']}/" in tmpfiles
    web_tmpfiles = (LAYER / "recipes-facteur/facteur-web/files/facteur-web-tmpfiles.conf").read_text()
    assert re.search(rf"^d {web['state_dir']} 0700 facteur-web facteur-web", web_tmpfiles, re.M)

    rules = (LAYER / "recipes-facteur/facteur/files/50-facteur-networkd.rules").read_text()
    assert 'subject.user == "facteur"' in rules
    assert "org.freedesktop.network1.reload" in rules and "org.freedesktop.network1.reconfigure" in rules


# --- wic, RAUC, boot ------------------------------------------------------

def wks_parts(name):
    parts = []
    for line in (LAYER / "files" / "wic" / name).read_text().splitlines():
        if line.startswith("part "):
            opts = dict(re.findall(r"--([\w-]+)[ =](\"[^\"]*\"|\S+)", line))
            parts.append({k: v.strip('"') for k, v in opts.items()})
    return parts


def test_kickstart_files_fit_the_image_and_the_slots():
    image = (LAYER / "recipes-core/images/facteur-image.bb").read_text()
    names = re.findall(r'^WKS_FILE(?::[\w-]+)? \?= "([^"]+)"', image, re.M)
    assert set(names) == {"facteur-ab-rpi.wks.in", "facteur-ab-efi.wks.in"}
    for name in names:
        wks = (LAYER / "files" / "wic" / name).read_text()
        for var in re.findall(r"\$\{(\w+)\}", wks):
            assert re.search(rf"^{var} \?= ", image, re.M), f"{name}: ${{{var}}} not set by the image"
        for cfg in re.findall(r'--configfile="([^"]+)"', wks):
            assert (LAYER / "files" / "wic" / cfg).is_file()
        parts = wks_parts(name)
        assert [p["label"] for p in parts] == ["boot", "rootfs_a", "rootfs_b", "facteur-data"]
        assert parts[1]["fixed-size"] == parts[2]["fixed-size"]
        assert all("no-fstab-update" in line for line in wks.splitlines() if line.startswith("part "))
    assert "/dev/disk/by-label/facteur-data" in (LAYER / "recipes-core/facteur-base/files/data.mount").read_text()
    assert "/dev/disk/by-label/boot" in (LAYER / "recipes-core/facteur-base/files/boot.mount").read_text()
    assert "read-only-rootfs" in image and re.search(r'IMAGE_FSTYPES = "ext4 ', image)
    assert 'BAD_RECOMMENDATIONS += "rauc-mark-good"' in image
    # The EFI kickstart names its slots; the RPi one numbers them.
    assert [p.get("part-name") for p in wks_parts("facteur-ab-efi.wks.in")][1:3] == ["rootfs_a", "rootfs_b"]
    grub = (LAYER / "files/wic/facteur-grub.cfg").read_text()
    assert "root=PARTLABEL=rootfs_a" in grub and "root=PARTLABEL=rootfs_b" in grub
    assert (LAYER / "recipes-bsp/facteur-grubenv/files/grubenv").stat().st_size == 1024
    boot_cmd = (LAYER / "dynamic-layers/raspberrypi/recipes-bsp/rpi-u-boot-scr/files/boot.cmd.in").read_text()
    assert "setenv rootpart 2" in boot_cmd and "setenv rootpart 3" in boot_cmd
    assert "BOOT_A_LEFT" in boot_cmd and "rauc.slot=${raucslot}" in boot_cmd


def system_conf(machine):
    c = configparser.ConfigParser(strict=True, interpolation=None)
    c.read_string((LAYER / "recipes-core/rauc/files" / machine / "system.conf").read_text())
    return c


def test_rauc_system_conf_matches_the_bundle():
    distro = assignments(LAYER / "conf/distro/facteur.conf")
    bundle = assignments(LAYER / "recipes-core/bundles/facteur-bundle.bb")
    append = assignments(LAYER / "recipes-core/rauc/rauc-conf.bbappend")
    assert distro["FACTEUR_RAUC_COMPATIBLE"] == "facteur-box"
    assert bundle["RAUC_BUNDLE_COMPATIBLE"] == "${FACTEUR_RAUC_COMPATIBLE}"
    assert bundle["RAUC_BUNDLE_FORMAT"] == "verity"
    assert bundle["RAUC_BUNDLE_SLOTS"] == "rootfs"
    assert bundle["RAUC_SLOT_rootfs"] == "facteur-image"
    assert bundle["RAUC_KEY_FILE"] == "" and bundle["RAUC_CERT_FILE"] == ""
    assert "@FACTEUR_RAUC_COMPATIBLE@" in (LAYER / "recipes-core/rauc/rauc-conf.bbappend").read_text()

    rpi_parts = wks_parts("facteur-ab-rpi.wks.in")
    for machine, bootloader in (("raspberrypi4-64", "uboot"), ("qemux86-64", "grub")):
        c = system_conf(machine)
        assert c["system"]["compatible"] == "@FACTEUR_RAUC_COMPATIBLE@"
        assert c["system"]["bootloader"] == bootloader
        assert c["system"]["data-directory"].startswith("/data/")
        assert c["system"]["bundle-formats"] == "-plain"
        assert c["keyring"]["path"] == append["RAUC_KEYRING_FILE:facteur"] == "keyring.pem"
        assert sorted(s for s in c.sections() if s.startswith("slot.")) == ["slot.rootfs.0", "slot.rootfs.1"]
        assert [c[f"slot.rootfs.{i}"]["bootname"] for i in (0, 1)] == ["A", "B"]
        assert all(c[f"slot.rootfs.{i}"]["type"] == "ext4" for i in (0, 1))
        devices = [c[f"slot.rootfs.{i}"]["device"] for i in (0, 1)]
        if machine == "raspberrypi4-64":
            assert devices == ["/dev/mmcblk0p2", "/dev/mmcblk0p3"]
            assert [p["label"] for p in rpi_parts[1:3]] == ["rootfs_a", "rootfs_b"]
        else:
            assert devices == ["/dev/disk/by-partlabel/rootfs_a", "/dev/disk/by-partlabel/rootfs_b"]
            assert c["system"]["grubenv"].startswith("/boot/")
            assert "grubenv;EFI/BOOT/grubenv" in (LAYER / "recipes-core/images/facteur-image.bb").read_text()
    # Both CAs go into the keyring, from the build host.
    text = (LAYER / "recipes-core/rauc/rauc-conf.bbappend").read_text()
    assert 'cat "${RAUC_KEYRING_CURRENT}" "${RAUC_KEYRING_NEXT}"' in text
    assert 'RAUC_KEYRING_URI:facteur = ""' in text


def test_kas_files_name_the_layers():
    for name in ("facteur-rpi4.yml", "facteur-qemux86-64.yml"):
        text = (YOCTO / "kas" / name).read_text()
        assert "facteur" in text
    common = (YOCTO / "kas" / "common.yml").read_text()
    for layer in ("meta-rauc", "meta-lts-mixins", "meta-openembedded", "wrynose"):
        assert layer in common
