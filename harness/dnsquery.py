"""Talking DNS to servers inside a MiniInternet: one exchange, one question, readiness."""

from __future__ import annotations

import socket
import subprocess
import time

from dnslib import DNSRecord

from harness.addresses import CLIENT_ADDRESS
from harness.netns import MiniInternet, NetnsError


def exchange(
    net: MiniInternet,
    server: str,
    wire: bytes,
    timeout: float = 2.0,
    source: str = CLIENT_ADDRESS,
    tcp: bool = False,
) -> bytes | None:
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


def query(
    net: MiniInternet,
    server: str,
    qname: str,
    qtype: str = "A",
    rd: bool = False,
    timeout: float = 2.0,
) -> DNSRecord | None:
    """One UDP question to ``server`` inside the namespace; the parsed reply or None."""
    q = DNSRecord.question(qname, qtype)
    q.header.rd = int(rd)
    data = exchange(net, server, q.pack(), timeout)
    return DNSRecord.parse(data) if data is not None else None


def wait_ready(
    net: MiniInternet,
    server: str,
    qname: str = ".",
    qtype: str = "SOA",
    proc: subprocess.Popen[bytes] | None = None,
    deadline: float = 20.0,
    rd: bool = False,
) -> float:
    """Poll ``server`` (with dig inside the namespace) until it answers; seconds taken."""
    started = time.monotonic()
    flag = "+rec" if rd else "+norec"
    while time.monotonic() - started < deadline:
        if proc is not None and proc.poll() is not None:
            raise NetnsError(f"{proc.args!r} exited with {proc.returncode}")
        r = net.run(["dig", f"@{server}", flag, "+time=1", "+tries=1", qname, qtype], timeout=5)
        if "status:" in r.stdout:
            return time.monotonic() - started
    raise NetnsError(f"{server} did not answer {qname} {qtype} within {deadline} s")
