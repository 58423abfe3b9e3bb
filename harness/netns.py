"""A throw-away network namespace holding the lab's DNS addresses: a mini-Internet.

The differential tests and the DNS benchmark run our servers and the peers
(NSD, Unbound) on the real lab addresses (lab/topology.py) and port 53, with
no Docker: ``ip netns add wl-dns-<pid>``, loopback up, the
addresses on a dummy interface (or on the namespace's own loopback when the
kernel has no dummy driver). Nothing inside can reach the outside world, and
the host's port 53 is untouched. Processes started through ``start`` run
inside the namespace (``ip netns exec`` execs the command itself, so the
Popen PID is the server's PID) and are stopped by that PID on exit; the
namespace and its ``/etc/netns/<name>`` directory are removed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

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
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=False)
    if r.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {r.stderr.strip()}")


class MiniInternet:
    """Context manager: a namespace with ``addresses`` up; processes inside it."""

    def __init__(self, addresses: Sequence[str], name: str | None = None) -> None:
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

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` prefixed to run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def start(
        self,
        argv: Sequence[str],
        log: Path | None = None,
        cwd: str | Path | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start a process inside the namespace; it is stopped by PID on exit."""
        out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
        try:
            proc = subprocess.Popen(
                self.command(argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=cwd,
                env=env,
            )
        finally:
            if log is not None and not isinstance(out, int):
                out.close()
        self.procs.append(proc)
        return proc

    def run(
        self, argv: Sequence[str], timeout: float = 30.0, input_text: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside the namespace to completion (bounded by ``timeout``)."""
        return subprocess.run(
            self.command(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input_text,
            check=False,
        )

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
            with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
                self.stop(proc)
        shutil.rmtree(NETNS_DIR / self.name, ignore_errors=True)
        subprocess.run(
            ["ip", "netns", "del", self.name], capture_output=True, timeout=10, check=False
        )
