"""A real PC/SC stack with a simulated CPS card, for tests and the demo.

pcscd (pcsc-lite) runs in the foreground with a reader configuration of
its own: vsmartcard's virtual reader driver (vpcd), which waits on a TCP
port for a card. The card is tests/card-sim (facteur-card-sim), which
connects to that port and answers APDUs like a CPS card.

pcsc-lite 1.9 serves one socket per machine (/run/pcscd/pcscd.comm), so
one PcscStack runs at a time; starting one stops any other pcscd.
"""

import json
import os
import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VPCD_DRIVER = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
READER_NAME = "Facteur Test Reader"


def card_sim_bin() -> str:
    explicit = os.environ.get("FACTEUR_CARD_SIM_BIN")
    if explicit:
        return explicit
    for profile in ("release", "debug"):
        candidate = REPO / "target" / profile / "facteur-card-sim"
        if candidate.exists():
            return str(candidate)
    raise RuntimeError("facteur-card-sim not built: run cargo build --release -p facteur-card-sim")


def free_port_pair() -> int:
    """A port P with P+1 free too (vpcd opens two slots)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port >= 65535:
            continue
        try:
            with socket.socket() as s2:
                s2.bind(("0.0.0.0", port + 1))
            with socket.socket() as s1:
                s1.bind(("0.0.0.0", port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair")


def stop_all_pcscd() -> None:
    subprocess.run(["pkill", "-x", "pcscd"], capture_output=True)
    deadline = time.time() + 10
    while time.time() < deadline:
        if subprocess.run(["pgrep", "-x", "pcscd"], capture_output=True).returncode != 0:
            break
        time.sleep(0.1)
    else:
        subprocess.run(["pkill", "-9", "-x", "pcscd"], capture_output=True)
        time.sleep(0.2)
    for stale in ("/run/pcscd/pcscd.comm", "/run/pcscd/pcscd.pid"):
        try:
            os.unlink(stale)
        except FileNotFoundError:
            pass


class PcscStack:
    """pcscd with the virtual reader, and simulated cards in it."""

    def __init__(self, workdir: Path):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port_pair()
        self.pcscd = None
        self.cards = []

    # -- pcscd -------------------------------------------------------------
    def start_pcscd(self, with_reader: bool = True) -> "PcscStack":
        """Starts pcscd; without the reader it runs with no reader at all
        (as when the USB reader is unplugged)."""
        stop_all_pcscd()
        conf = self.dir / ("reader.conf" if with_reader else "no-reader.conf")
        if with_reader:
            conf.write_text(
                f'FRIENDLYNAME "{READER_NAME}"\n'
                f"DEVICENAME   /dev/null:{self.port}\n"
                f"LIBPATH      {VPCD_DRIVER}\n"
                f"CHANNELID    {self.port}\n"
            )
        else:
            conf.write_text("# no reader\n")
        log = open(self.dir / "pcscd.log", "ab")
        self.pcscd = subprocess.Popen(
            ["pcscd", "--foreground", "--apdu", "--config", str(conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.pcscd.poll() is not None:
                raise RuntimeError(f"pcscd exited: {self.pcscd_log()[-2000:]}")
            if os.path.exists("/run/pcscd/pcscd.comm") and (not with_reader or self._vpcd_listening()):
                return self
            time.sleep(0.05)
        raise TimeoutError("pcscd not ready")

    def _vpcd_listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                pass
        except OSError:
            return False
        return True

    def stop_pcscd(self) -> None:
        if self.pcscd and self.pcscd.poll() is None:
            self.pcscd.terminate()
            try:
                self.pcscd.wait(10)
            except subprocess.TimeoutExpired:
                self.pcscd.kill()
                self.pcscd.wait()
        self.pcscd = None

    def pcscd_log(self) -> str:
        p = self.dir / "pcscd.log"
        return p.read_text(errors="replace") if p.exists() else ""

    # -- cards ---------------------------------------------------------------
    def insert_card(self, certificate: str, key: str, profile: str = "cps3", pin: str = "1234",
                    sign_delay_ms: int = 0, fault: str = "none", name: str = "card") -> "SimulatedCard":
        card = SimulatedCard(self.dir / name, self.port, certificate, key, profile, pin, sign_delay_ms, fault)
        card.start()
        self.cards.append(card)
        return card

    def stop(self) -> None:
        for card in self.cards:
            card.stop()
        self.cards = []
        self.stop_pcscd()


class SimulatedCard:
    """One facteur-card-sim process: a CPS card in the virtual reader."""

    def __init__(self, workdir: Path, port: int, certificate: str, key: str, profile: str,
                 pin: str, sign_delay_ms: int, fault: str):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.control_path = self.dir / "control.sock"
        self.args = [
            card_sim_bin(),
            "--vpcd", f"127.0.0.1:{port}",
            "--profile", profile,
            "--certificate", str(certificate),
            "--key", str(key),
            "--pin", pin,
            "--sign-delay-ms", str(sign_delay_ms),
            "--control", str(self.control_path),
            "--state", str(self.dir / "state.json"),
            "--fault", fault,
        ]
        self.proc = None

    def start(self) -> "SimulatedCard":
        log = open(self.dir / "card-sim.log", "ab")
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=log, text=True,
                                     start_new_session=True)
        line = self.proc.stdout.readline()
        if not line.startswith("card-sim ready:"):
            raise RuntimeError(f"card simulator did not start: {line!r} {self.log()[-1000:]}")
        return self

    def log(self) -> str:
        p = self.dir / "card-sim.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def command(self, text: str) -> str:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(str(self.control_path))
            s.sendall(text.encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        return data.decode().strip()

    def remove(self) -> None:
        assert self.command("remove") == "ok"

    def insert(self) -> None:
        assert self.command("insert") == "ok"

    def status(self) -> dict:
        return json.loads(self.command("status"))

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
