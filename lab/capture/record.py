"""Packet capture of the lab network into pcapng, with TLS secrets embedded.

On Linux the host sees every lab packet on the networks' bridges, so dumpcap
(Wireshark's capture engine) listens on all of them at once, one interface
per network (lab/capture/hops.py then keeps each packet once for the run's
analysis, and every copy for following it hop by hop). The TLS key logs written during
the run, by the client and by the servers, are embedded in the file as a
Decryption Secrets Block (``editcap --inject-secrets``): Wireshark and tshark
then decrypt HTTPS with no key file and no settings.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from lab import topology
from lab.capture import hops
from lab.errors import LabError


# Only the lab's own traffic: leave out IPv6 neighbour discovery and router
# solicitations, mDNS, LLMNR, which the kernel emits on any new bridge, and
# whatever the host itself sends into the lab through its side of the bridge
# (a load generator such as dnsperf, a user's own dig): the hosts of the lab
# are the story, and 20,000 queries a second would bury it. `--raw` keeps all.
def lab_filter(gateways: Sequence[str] = (topology.GATEWAY,)) -> str:
    """The capture filter for a lab whose bridges (the host's side) have GATEWAYS."""
    hosts = " and ".join(f"not host {g}" for g in gateways)
    return f"not ip6 and not (udp port 5353 or udp port 5355) and {hosts}"


DEFAULT_FILTER = lab_filter(list(topology.DEFAULT_PLAN.bridges.values()))


class Capture:
    """dumpcap on the host, on the lab bridges: started before a run, stopped after it."""

    def __init__(self, interfaces: Sequence[str], raw_file: Path,
                 bpf: str | None = DEFAULT_FILTER) -> None:  # fmt: skip
        self.interfaces = list(interfaces)
        self.interface = ", ".join(self.interfaces)
        self.raw_file = raw_file
        self.bpf = bpf
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = raw_file.with_suffix(".dumpcap.log")

    def start(self, timeout: float = 10) -> None:
        if shutil.which("dumpcap") is None:
            raise LabError("dumpcap is missing (Debian package tshark); run `lab bootstrap`")
        cmd = ["dumpcap"]
        for name in self.interfaces:  # -f applies to the -i before it
            cmd += ["-i", name, *(["-f", self.bpf] if self.bpf else [])]
        cmd += ["-w", str(self.raw_file), "-q"]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=log)
        # dumpcap prints "Capturing on ..." once the interface is open; before that a
        # packet would be missed, so the run waits for it.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise LabError(f"dumpcap exited: {self.log.read_text().strip()}")
            if b"Capturing on" in self.log.read_bytes():
                return
            time.sleep(0.05)
        self.stop()
        raise LabError(f"dumpcap did not start capturing on {self.interface} in {timeout} s")

    def stop(self, settle: float = 0.3) -> None:
        """Stop dumpcap cleanly (SIGINT to its own PID) so the file is complete."""
        if self.proc is None:
            return
        time.sleep(settle)  # let the last frames of the run cross the bridge
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class ContainerCapture:
    """tcpdump in a throw-away container sharing the Docker host's network stack.

    For hosts that cannot see the lab bridge themselves (Docker Desktop runs the
    engine in a VM): the container's ``--network host`` is the VM's, where the
    bridge is. It writes pcap into the run folder; ``stop`` converts it to
    pcapng (editcap) so the rest of a run does not care which capture ran.
    """

    def __init__(
        self, interfaces: Sequence[str], raw_file: Path, image: str,
        bpf: str | None = DEFAULT_FILTER,
    ) -> None:  # fmt: skip
        self.interfaces, self.raw_file, self.image = list(interfaces), raw_file, image
        self.bpf = bpf
        self.interface = ", ".join(self.interfaces)
        self.cid = ""

    def start(self, timeout: float = 20) -> None:
        folder = self.raw_file.parent.resolve()
        cmd = [
            "docker",
            "run",
            "-d",
            "--rm",
            "--network",
            "host",
            "--cap-add",
            "NET_RAW",
            "--cap-add",
            "NET_ADMIN",
            "--label",
            "org.weblab.lab=capture",
            "-v",
            f"{folder}:/capture",
            "--entrypoint",
            "sh",
            self.image,
            "-c",
            # One tcpdump per bridge (tcpdump opens one interface); stop() merges them.
            # --immediate-mode: without it libpcap hands packets over a block at
            # a time (up to a second late) and the last block is lost at stop.
            "trap 'kill $(jobs -p); wait' TERM; "
            + " ".join(
                f"tcpdump -i {name} --immediate-mode -U -w /capture/raw-{i}.pcap "
                f"{shlex.quote(self.bpf) if self.bpf else ''} &"
                for i, name in enumerate(self.interfaces)
            )
            + " wait",
        ]
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise LabError(f"could not start the capture container: {r.stderr.strip()}")
        self.cid = r.stdout.strip()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            logs = subprocess.run(
                ["docker", "logs", self.cid], capture_output=True, text=True, check=False
            )
            if logs.stderr.count("listening on") >= len(self.interfaces):
                return
            if logs.returncode != 0:
                break
            time.sleep(0.1)
        self.stop()
        raise LabError(f"tcpdump in the capture container did not start on {self.interface}")

    def stop(self, settle: float = 0.3) -> None:
        """SIGTERM makes tcpdump flush and close the file; then convert it to pcapng."""
        if not self.cid:
            return
        time.sleep(settle)
        subprocess.run(["docker", "stop", "-t", "10", self.cid], capture_output=True, check=False)
        self.cid = ""
        pcaps = [self.raw_file.parent / f"raw-{i}.pcap" for i in range(len(self.interfaces))]
        if all(p.exists() for p in pcaps):
            # One interface per input file, in this order (-I none: mergecap would merge
            # the four identical, nameless interfaces of tcpdump's files into one).
            r = subprocess.run(
                [
                    "mergecap",
                    "-F",
                    "pcapng",
                    "-I",
                    "none",
                    "-w",
                    str(self.raw_file),
                    *map(str, pcaps),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if r.returncode != 0:
                raise LabError(f"mergecap could not merge the capture: {r.stderr.strip()}")
        for p in pcaps:
            p.unlink(missing_ok=True)


def sample_forgeries(mac: str, keep_below: int = 64) -> str:
    """A BPF clause that keeps 1 in 1,024 of the forged DNS answers a host sends.

    The cache-poisoning attacker sends hundreds of thousands of answers "from" a
    name server's port 53; the capture keeps those whose guessed ID is below
    KEEP_BELOW (``udp[8:2]`` is the DNS ID, after the 8-byte UDP header) and every
    other packet, so the file shows the attack without burying the run.
    """
    return f"not (ether src {mac} and udp src port 53 and udp[8:2] >= {keep_below})"


def make_capture(
    bridges: Sequence[str],
    raw_file: Path,
    image: str,
    raw: bool = False,
    gateways: Sequence[str] = (topology.GATEWAY,),
    also: str | None = None,
) -> Capture | ContainerCapture:
    """The host's dumpcap when the host sees the bridges, else a capture container.

    LAB_CAPTURE=host or LAB_CAPTURE=container forces one. ``raw`` keeps the
    noise the default filter leaves out (IPv6 neighbour discovery, mDNS, ...);
    ``also`` is one more BPF clause the packets must pass (sample_forgeries).
    """
    bpf = None if raw else lab_filter(gateways)
    if also:
        bpf = f"({bpf}) and {also}" if bpf else also
    how = os.environ.get("LAB_CAPTURE", "auto")
    if how not in ("auto", "host", "container"):
        raise LabError(f"LAB_CAPTURE={how!r}: expected auto, host or container")
    if how == "host" or (how == "auto" and Path("/sys/class/net", bridges[0]).exists()):
        return Capture(bridges, raw_file, bpf)
    return ContainerCapture(bridges, raw_file, image, bpf)


def embed_secrets(raw: Path, keylog: Path, out: Path) -> None:
    """Write OUT = RAW with the key log embedded as a Decryption Secrets Block."""
    if keylog.exists() and keylog.stat().st_size > 0:
        r = subprocess.run(
            ["editcap", "--inject-secrets", f"tls,{keylog}", str(raw), str(out)],
            capture_output=True,
            text=True,
            check=False,
        )
        if r.returncode != 0:
            raise LabError(f"editcap could not embed the TLS secrets: {r.stderr.strip()}")
        raw.unlink()
    else:
        raw.rename(out)


def client_randoms(capture: Path) -> set[str]:
    """The client randoms of every ClientHello in the capture (lower-case hex)."""
    r = subprocess.run(
        [
            "tshark",
            "-r",
            str(capture),
            "-Y",
            "tls.handshake.type == 1",
            "-T",
            "fields",
            "-e",
            "tls.handshake.random",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if r.returncode != 0:
        raise LabError(f"tshark could not read {capture}: {r.stderr.strip()[-300:]}")
    return {w.replace(":", "").lower() for w in r.stdout.split()}


def collect_keylogs(
    directory: Path, extra: list[Path], out: Path, randoms: set[str] | None = None
) -> int:
    """Merge the servers' key logs and the run's own into OUT; return the secret count.

    Key log lines are keyed by the client random of their handshake (NSS key log
    format). With ``randoms``, only the sessions whose ClientHello is in the
    capture are kept: a TLS session whose handshake was not captured cannot be
    decrypted anyway, and the servers' logs grow with every connection.
    """
    lines: list[str] = []
    for p in [*sorted(directory.glob("*.keylog")), *extra]:
        if p.exists():
            lines += p.read_bytes().decode("ascii", "replace").splitlines()
    keep = list(dict.fromkeys(ln for ln in lines if ln and not ln.startswith("#")))
    if randoms is not None:
        keep = [ln for ln in keep if len(ln.split()) == 3 and ln.split()[1].lower() in randoms]
    out.write_text("".join(ln + "\n" for ln in keep))
    return len(keep)


def seal(folder: Path, networks: Mapping[str, str], bridges: Mapping[str, str],
         keylog_dir: Path, extra_keys: Sequence[Path] = ()) -> int:  # fmt: skip
    """Turn the run's raw.pcapng into capture.pcapng and hops.pcapng; the secret count.

    BRIDGES maps each network to the bridge the capture opened for it, in that
    order; NETWORKS gives their subnets. capture.pcapng has each packet once,
    hops.pcapng every copy (lab/capture/hops.py); both have the TLS secrets of
    the handshakes they hold."""
    raw = folder / "raw.pcapng"
    view, every = folder / "raw-view.pcapng", folder / "raw-hops.pcapng"
    interfaces = [
        (net, f"{bridge} {networks.get(net, '')}".strip()) for net, bridge in bridges.items()
    ]
    hops.split(raw, view, every, interfaces)
    raw.unlink()
    n_keys = collect_keylogs(
        keylog_dir, list(extra_keys), folder / "keys.log", client_randoms(view)
    )
    embed_secrets(view, folder / "keys.log", folder / "capture.pcapng")
    embed_secrets(every, folder / "keys.log", folder / "hops.pcapng")
    return n_keys
