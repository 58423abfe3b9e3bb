"""A throw-away network namespace holding the lab's DNS addresses: a mini-Internet.

The differential tests and the DNS benchmark run our servers and the peers
(NSD, Unbound) on the real lab addresses (198.51.100.0/24, RFC 5737) and
port 53, with no Docker: ``ip netns add wl-dns-<pid>``, loopback up, the
addresses on a dummy interface (or on the namespace's own loopback when the
kernel has no dummy driver). Nothing inside can reach the outside world, and
the host's port 53 is untouched. Processes started through ``start`` run
inside the namespace (``ip netns exec`` execs the command itself, so the
Popen PID is the server's PID) and are stopped by that PID on exit; the
namespace and its ``/etc/netns/<name>`` directory are removed.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import yaml
from dnslib import DNSRecord

# The lab's DNS hosts (lab/topology.py) plus addresses for the peers.
LAB_DNS = {
    "root-a": "198.51.100.4", "root-b": "198.51.100.5",
    "tld-a": "198.51.100.11", "tld-b": "198.51.100.12",
    "ns-example": "198.51.100.21", "ns-cdn": "198.51.100.31",
    "resolver": "198.51.100.53",
}
NSD_ADDRESS = "198.51.100.201"
UNBOUND_ADDRESS = "198.51.100.202"
CLIENT_ADDRESS = "198.51.100.100"
# One NSD per distinct zone set of ours, so that each NSD holds exactly the
# zones the server it is compared with holds (cross-zone CNAMEs, referrals
# and REFUSED all depend on that).
NSD_FOR = {"root-a": NSD_ADDRESS, "tld-a": "198.51.100.203",
           "ns-example": "198.51.100.204", "ns-cdn": "198.51.100.205"}
ADDRESSES = (*LAB_DNS.values(), *NSD_FOR.values(), UNBOUND_ADDRESS, CLIENT_ADDRESS)
NETNS_DIR = Path("/etc/netns")
CLONE_NEWNET = 0x40000000


class NetnsError(RuntimeError):
    """The namespace could not be set up (not root, no ``ip``)."""


def available() -> str | None:
    """None if namespaces can be made here, else why not (for a test's skip)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed"
    return None


def _free_name(base: str) -> str:
    """``base``, or ``base-2``, ``base-3``... if a namespace of that name exists."""
    taken = set(os.listdir("/var/run/netns")) if os.path.isdir("/var/run/netns") else set()
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


def _ip(*args: str) -> None:
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {r.stderr.strip()}")


class MiniInternet:
    """Context manager: a namespace with ``addresses`` up; processes inside it."""

    def __init__(self, addresses: Sequence[str] = ADDRESSES, name: str | None = None) -> None:
        self.name = name or _free_name(f"wl-dns-{os.getpid()}")
        self.addresses = list(addresses)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.device = "lo"

    def __enter__(self) -> MiniInternet:
        why = available()
        if why:
            raise NetnsError(why)
        _ip("netns", "add", self.name)
        try:
            _ip("-n", self.name, "link", "set", "lo", "up")
            try:
                _ip("-n", self.name, "link", "add", "wl0", "type", "dummy")
                _ip("-n", self.name, "link", "set", "wl0", "up")
                self.device = "wl0"
            except NetnsError:
                self.device = "lo"  # no dummy driver: loopback carries them just as well
            for address in self.addresses:
                _ip("-n", self.name, "addr", "add", f"{address}/32", "dev", self.device)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` prefixed to run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def start(self, argv: Sequence[str], log: Path | None = None,
              cwd: str | Path | None = None,
              env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start a process inside the namespace; it is stopped by PID on exit."""
        out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
        try:
            proc = subprocess.Popen(self.command(argv), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=cwd, env=env)
        finally:
            if log is not None and not isinstance(out, int):
                out.close()
        self.procs.append(proc)
        return proc

    def run(self, argv: Sequence[str], timeout: float = 30.0,
            input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command inside the namespace to completion (bounded by ``timeout``)."""
        return subprocess.run(self.command(argv), capture_output=True, text=True,
                              timeout=timeout, input=input_text)

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 3.0) -> None:
        """SIGTERM the process by its PID, SIGKILL after ``grace`` seconds."""
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(grace)
        if proc in self.procs:
            self.procs.remove(proc)

    def resolv_conf(self, nameserver: str) -> Path:
        """Give the namespace its own /etc/resolv.conf (``ip netns exec`` bind-mounts it)."""
        folder = NETNS_DIR / self.name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "resolv.conf"
        path.write_text(f"nameserver {nameserver}\noptions timeout:2 attempts:2\n")
        return path

    def socket(self, kind: int = socket.SOCK_DGRAM) -> socket.socket:
        """An IPv4 socket that lives in the namespace, made from this (host) process.

        setns(2) moves only the calling thread; the socket keeps the namespace
        it was created in after the thread moves back, so a test can talk to
        the servers inside without running itself in the namespace.
        """
        libc = ctypes.CDLL(None, use_errno=True)
        with open(f"/var/run/netns/{self.name}") as inside, open("/proc/self/ns/net") as home:
            if libc.setns(inside.fileno(), CLONE_NEWNET) != 0:
                raise NetnsError(f"setns: {os.strerror(ctypes.get_errno())}")
            try:
                return socket.socket(socket.AF_INET, kind)
            finally:
                if libc.setns(home.fileno(), CLONE_NEWNET) != 0:
                    raise NetnsError(f"setns back: {os.strerror(ctypes.get_errno())}")

    def close(self) -> None:
        """Stop every process started here, then delete the namespace."""
        for proc in list(self.procs):
            try:
                self.stop(proc)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(NETNS_DIR / self.name, ignore_errors=True)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=10)


def exchange(net: MiniInternet, server: str, wire: bytes, timeout: float = 2.0,
             source: str = CLIENT_ADDRESS, tcp: bool = False) -> bytes | None:
    """Send one DNS message to ``server``:53 inside the namespace; the reply or None."""
    with net.socket(socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.settimeout(timeout)
        try:
            if tcp:
                s.connect((server, 53))
                s.sendall(len(wire).to_bytes(2, "big") + wire)
                head = _recv_exact(s, 2)
                return _recv_exact(s, int.from_bytes(head, "big"))
            s.sendto(wire, (server, 53))
            while True:
                data, _ = s.recvfrom(65535)
                if data[:2] == wire[:2]:
                    return data
        except (TimeoutError, ConnectionError, OSError):
            return None


def _recv_exact(s: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
    return data


def query(net: MiniInternet, server: str, qname: str, qtype: str = "A",
          rd: bool = False, timeout: float = 2.0) -> DNSRecord | None:
    """One UDP question to ``server`` inside the namespace; the parsed reply or None."""
    q = DNSRecord.question(qname, qtype)
    q.header.rd = int(rd)
    data = exchange(net, server, q.pack(), timeout)
    return DNSRecord.parse(data) if data is not None else None


def wait_ready(net: MiniInternet, server: str, qname: str = ".", qtype: str = "SOA",
               proc: subprocess.Popen[bytes] | None = None, deadline: float = 20.0,
               rd: bool = False) -> float:
    """Poll ``server`` (with dig inside the namespace) until it answers; seconds taken."""
    started = time.monotonic()
    flag = "+rec" if rd else "+norec"
    while time.monotonic() - started < deadline:
        if proc is not None and proc.poll() is not None:
            raise NetnsError(f"{proc.args!r} exited with {proc.returncode}")
        r = net.run(["dig", f"@{server}", flag, "+time=1", "+tries=1", qname, qtype],
                    timeout=5)
        if "status:" in r.stdout:
            return time.monotonic() - started
    raise NetnsError(f"{server} did not answer {qname} {qtype} within {deadline} s")




# --- The lab's DNS servers and the peers, started in a MiniInternet -------------------

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").exists() else "python3"


@dataclass(frozen=True)
class Service:
    """One DNS service of compose.yaml: its address and its command."""

    name: str
    address: str
    argv: tuple[str, ...]

    def option(self, flag: str) -> str:
        """The value given to ``flag`` in the command ("" if absent)."""
        args = list(self.argv)
        return args[args.index(flag) + 1] if flag in args else ""

    def zones(self) -> list[str]:
        """The --zone files of an authoritative server, as absolute paths."""
        args = list(self.argv)
        return [str(ROOT / args[i + 1]) for i, a in enumerate(args) if a == "--zone"]


def compose_services(compose: Path = ROOT / "compose.yaml") -> dict[str, Service]:
    """The DNS services (services.dns, services.resolver) exactly as compose runs them."""
    doc = yaml.safe_load(compose.read_text())
    found: dict[str, Service] = {}
    for name, spec in doc["services"].items():
        command = spec.get("command") or []
        if len(command) > 2 and command[2] in ("services.dns", "services.resolver"):
            address = spec["networks"]["internet"]["ipv4_address"]
            found[name] = Service(name, address, tuple(command))
    return found


def our_argv(service: Service, tmp: Path) -> list[str]:
    """Compose's command, bound to the service's own address (all share port 53 here).

    The only changes: ``--listen`` (compose binds 0.0.0.0 in a container of
    its own), the venv's Python, the root hints generated into ``tmp`` as the
    image build does, and the resolver's control socket in ``tmp``.
    """
    argv = [PYTHON, *service.argv[1:], "--listen", service.address]
    if service.argv[2] == "services.resolver":
        argv[argv.index("--hints") + 1] = str(root_hints(tmp))
        argv += ["--control-socket", str(tmp / f"{service.name}.sock")]
    return argv


def root_hints(tmp: Path) -> Path:
    """services/zones/root.hints as the image build makes it (generated from root.zone)."""
    path = tmp / "root.hints"
    if not path.exists():
        r = subprocess.run([PYTHON, "-m", "services.resolver.hints",
                            str(ROOT / "services/zones/root.zone")],
                           capture_output=True, text=True, cwd=ROOT, check=True, timeout=30)
        path.write_text(r.stdout)
    return path


def start_ours(net: MiniInternet, tmp: Path, names: Sequence[str] | None = None,
               extra: Sequence[str] = ()) -> dict[str, subprocess.Popen[bytes]]:
    """Start our servers (all of compose's DNS services by default); wait until each answers."""
    services = compose_services()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for name in names or list(services):
        service = services[name]
        procs[name] = net.start([*our_argv(service, tmp), *extra], log=tmp / f"{name}.log",
                                cwd=ROOT)
    for name, proc in procs.items():
        service = services[name]
        if service.argv[2] == "services.resolver":
            wait_ready(net, service.address, ".", "NS", proc=proc, rd=True)
        else:
            wait_ready(net, service.address, _apex(service), "SOA", proc=proc)
    return procs


def _apex(service: Service) -> str:
    first = Path(service.zones()[0]).name.removesuffix(".zone")
    return "." if first == "root" else first


def nsd_conf(tmp: Path, address: str, zone_files: Sequence[str], tag: str,
             identity: str = "") -> Path:
    """An NSD 4.6 configuration: one server process, RRL off, IPv4 only, files in tmp."""
    work = tmp / f"nsd-{tag}"
    work.mkdir(parents=True, exist_ok=True)
    zones = "".join(f"zone:\n  name: \"{_origin(f)}\"\n  zonefile: \"{f}\"\n"
                    for f in zone_files)
    conf = work / "nsd.conf"
    conf.write_text(f"""server:
  ip-address: {address}
  port: 53
  do-ip4: yes
  do-ip6: no
  server-count: 1
  username: ""
  chroot: ""
  database: ""
  zonelistfile: "{work}/zone.list"
  xfrdfile: "{work}/xfrd.state"
  pidfile: "{work}/nsd.pid"
  logfile: "{work}/nsd.log"
  identity: "{identity or 'nsd-' + tag}"
  verbosity: 0
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
{zones}""")
    return conf


def _origin(zone_file: str) -> str:
    name = Path(zone_file).name.removesuffix(".zone")
    return "." if name == "root" else name + "."


def check_zones(zone_files: Sequence[str]) -> list[str]:
    """Problems ``nsd-checkzone`` finds in our zone files (empty when all pass)."""
    problems = []
    for f in zone_files:
        r = subprocess.run(["nsd-checkzone", _origin(f), f], capture_output=True, text=True,
                           timeout=30)
        if r.returncode != 0:
            problems.append(f"{f}: {(r.stdout + r.stderr).strip()}")
    return problems


def start_nsd(net: MiniInternet, tmp: Path, address: str, zone_files: Sequence[str],
              tag: str, identity: str = "") -> subprocess.Popen[bytes]:
    """NSD in the foreground (-d) on ``address``; waits until it answers."""
    conf = nsd_conf(tmp, address, zone_files, tag, identity)
    proc = net.start(["nsd", "-d", "-c", str(conf)], log=tmp / f"nsd-{tag}.out")
    wait_ready(net, address, _origin(zone_files[0]), "SOA", proc=proc)
    return proc


def start_nsds(net: MiniInternet, tmp: Path) -> dict[str, subprocess.Popen[bytes]]:
    """One NSD for each of our distinct zone sets (see NSD_FOR), same identity as ours."""
    services = compose_services()
    return {name: start_nsd(net, tmp, address, services[name].zones(), name,
                            services[name].option("--name"))
            for name, address in NSD_FOR.items()}


def unbound_conf(tmp: Path, address: str = UNBOUND_ADDRESS,
                 qname_minimisation: bool = True) -> Path:
    """Unbound 1.17 as a plain iterator (unsigned zones) from our root hints."""
    work = tmp / "unbound"
    work.mkdir(parents=True, exist_ok=True)
    conf = work / "unbound.conf"
    conf.write_text(f"""server:
  interface: {address}
  port: 53
  outgoing-interface: {address}
  do-ip4: yes
  do-ip6: no
  num-threads: 1
  do-daemonize: no
  chroot: ""
  username: ""
  directory: "{work}"
  use-syslog: no
  logfile: ""
  verbosity: 0
  pidfile: "{work}/unbound.pid"
  root-hints: "{root_hints(tmp)}"
  module-config: "iterator"
  do-not-query-localhost: no
  qname-minimisation: {"yes" if qname_minimisation else "no"}
  access-control: 198.51.100.0/24 allow
  access-control: 127.0.0.0/8 allow
remote-control:
  control-enable: no
""")
    return conf


def start_unbound(net: MiniInternet, tmp: Path) -> subprocess.Popen[bytes]:
    """Unbound on UNBOUND_ADDRESS; waits until it resolves the root NS set."""
    conf = unbound_conf(tmp)
    check = subprocess.run(["unbound-checkconf", str(conf)], capture_output=True, text=True,
                           timeout=30)
    if check.returncode != 0:
        raise NetnsError(f"unbound-checkconf: {check.stdout}{check.stderr}")
    proc = net.start(["unbound", "-d", "-c", str(conf)], log=tmp / "unbound.out")
    wait_ready(net, UNBOUND_ADDRESS, ".", "NS", proc=proc, rd=True)
    return proc


def tree_cpu_seconds(pid: int) -> float:
    """User+system CPU of a process and all its descendants (from /proc/PID/stat)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in [pid, *_descendants(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def tree_rss_kib(pid: int) -> int:
    """Resident memory (VmRSS) of a process and its descendants, KiB."""
    total = 0
    for p in [pid, *_descendants(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                kids = [int(k) for k in task.read_text().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found
