"""A real RAUC for tests: Debian's `rauc` service on a private D-Bus bus,
with two file-backed raw slots (A and B), the `noop` bootloader, and a
keyring holding two CAs (the current and the next signing CA, as on the
box). Bundles are built and signed with the `rauc` CLI.

RAUC mounts a bundle to install it: `plain` bundles need a loop device
only, `verity` ones also need device-mapper, which test machines in
containers lack; the tests build `plain` bundles (the image recipe builds
`verity` ones)."""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

COMPATIBLE = "facteur-test-box"
SLOT_SIZE = 4 * 1024 * 1024
IMAGE_SIZE = 256 * 1024


def run(*argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kw)


def make_ca(dir: Path, name: str):
    key, pem = dir / f"{name}.key", dir / f"{name}.pem"
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(pem),
        "-days", "3650", "-subj", f"/O=Facteur tests/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return key, pem


def make_signer(dir: Path, name: str, ca_key: Path, ca_pem: Path):
    key, csr, pem = dir / f"{name}.key", dir / f"{name}.csr", dir / f"{name}.pem"
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", f"/O=Facteur tests/CN={name}")
    ext = dir / f"{name}.ext"
    ext.write_text("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n")
    run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_pem), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(pem), "-days", "3650", "-extfile", str(ext))
    return key, pem


class Rauc:
    def __init__(self, dir: Path):
        self.dir = Path(dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.bus_path = self.dir / "bus"
        self.address = f"unix:path={self.bus_path}"
        self.slots = {"A": self.dir / "slot-a.img", "B": self.dir / "slot-b.img"}
        self.bus = None
        self.service = None
        self.log_path = self.dir / "rauc.log"
        keys = self.dir / "keys"
        keys.mkdir(exist_ok=True)
        ca_current = make_ca(keys, "update-ca-current")
        ca_next = make_ca(keys, "update-ca-next")
        ca_other = make_ca(keys, "someone-else-ca")
        self.cas = {"current": ca_current, "next": ca_next, "other": ca_other}
        self.signers = {
            "current": make_signer(keys, "signer-current", *ca_current),
            "next": make_signer(keys, "signer-next", *ca_next),
            "other": make_signer(keys, "signer-other", *ca_other),
        }
        # The box's keyring: both of the group's CAs, never the other one.
        self.keyring = keys / "keyring.pem"
        self.keyring.write_text(ca_current[1].read_text() + ca_next[1].read_text())
        for slot in self.slots.values():
            with open(slot, "wb") as f:
                f.truncate(SLOT_SIZE)
        (self.dir / "mnt").mkdir(exist_ok=True)
        (self.dir / "system.conf").write_text(f"""[system]
compatible={COMPATIBLE}
bootloader=noop
mountprefix={self.dir / 'mnt'}
statusfile={self.dir / 'status.raucs'}

[keyring]
path={self.keyring}

[slot.rootfs.0]
device={self.slots['A']}
type=raw
bootname=A

[slot.rootfs.1]
device={self.slots['B']}
type=raw
bootname=B
""")
        self.counter = 0

    @property
    def env(self):
        return {**os.environ, "DBUS_SESSION_BUS_ADDRESS": self.address, "DBUS_STARTER_BUS_TYPE": "session"}

    def start(self, boot_slot="A"):
        if self.bus is None:
            if self.bus_path.exists():
                self.bus_path.unlink()
            self.bus = subprocess.Popen(
                ["dbus-daemon", "--session", "--nofork", f"--address={self.address}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            deadline = time.time() + 10
            while not self.bus_path.exists():
                assert time.time() < deadline, "dbus-daemon did not start"
                time.sleep(0.05)
        log = open(self.log_path, "ab")
        self.service = subprocess.Popen(
            ["rauc", "service", f"--conf={self.dir / 'system.conf'}", f"--mount={self.dir / 'mnt'}",
             f"--override-boot-slot={boot_slot}"],
            stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        deadline = time.time() + 15
        while True:
            done = subprocess.run(["rauc", "status", "--output-format=json"], capture_output=True, env=self.env)
            if done.returncode == 0:
                return self
            assert self.service.poll() is None, self.log()
            assert time.time() < deadline, f"rauc service not answering: {done.stderr}"
            time.sleep(0.1)

    def restart(self, boot_slot):
        """The box restarted: the service comes back booted from `boot_slot`."""
        self.stop_service()
        return self.start(boot_slot)

    def stop_service(self):
        if self.service and self.service.poll() is None:
            self.service.send_signal(signal.SIGTERM)
            try:
                self.service.wait(10)
            except subprocess.TimeoutExpired:
                self.service.kill()
                self.service.wait()
        self.service = None

    def stop(self):
        self.stop_service()
        if self.bus and self.bus.poll() is None:
            self.bus.terminate()
            self.bus.wait(10)
        self.bus = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def bundle(self, version, signer="current", compatible=COMPATIBLE, tamper=False) -> Path:
        """A signed bundle holding a random root filesystem image; the image
        is kept beside it (`.img`) to compare slots with."""
        self.counter += 1
        work = self.dir / f"bundle-{self.counter}"
        content = work / "content"
        content.mkdir(parents=True)
        image = os.urandom(IMAGE_SIZE)
        (content / "rootfs.img").write_bytes(image)
        (content / "manifest.raucm").write_text(
            f"[update]\ncompatible={compatible}\nversion={version}\n\n[bundle]\nformat=plain\n\n"
            "[image.rootfs]\nfilename=rootfs.img\n")
        out = self.dir / f"facteur-{version}-{self.counter}.raucb"
        key, cert = self.signers[signer]
        keyring = self.keyring if signer != "other" else self.cas["other"][1]
        run("rauc", "bundle", f"--cert={cert}", f"--key={key}", f"--keyring={keyring}", str(content), str(out))
        if tamper:
            data = bytearray(out.read_bytes())
            data[len(data) // 3] ^= 0xFF
            out.write_bytes(bytes(data))
        shutil.copyfile(content / "rootfs.img", out.with_suffix(".img"))
        shutil.rmtree(work)
        return out

    def slot_holds(self, slot: str, bundle: Path) -> bool:
        image = bundle.with_suffix(".img").read_bytes()
        with open(self.slots[slot], "rb") as f:
            return f.read(len(image)) == image

    def slot_blank(self, slot: str) -> bool:
        with open(self.slots[slot], "rb") as f:
            return f.read(IMAGE_SIZE) == bytes(IMAGE_SIZE)
