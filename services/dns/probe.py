"""Health probe: ``python -m services.dns.probe SERVER NAME TYPE [--norec] [--aa] [--port N]``.

Sends one real DNS query over UDP and exits 0 if the reply is NOERROR with at
least one answer (and AA=1 with ``--aa``), else 1; 2 for a usage error: proof
that a server answers the protocol, not merely that a port is open. The
health checks in compose.yaml do the same with ``dig`` instead.
"""

from __future__ import annotations

import argparse
import secrets
import socket
import sys

from dnslib import QTYPE, RCODE, DNSHeader, DNSQuestion, DNSRecord


def probe(
    server: str, name: str, qtype: str, port: int = 53, recurse: bool = True, timeout: float = 2.0
) -> DNSRecord:
    """One query, one matching reply (raises OSError/TimeoutError/ValueError)."""
    query = DNSRecord(
        DNSHeader(id=secrets.randbelow(65536), rd=int(recurse)),
        q=DNSQuestion(name, getattr(QTYPE, qtype.upper())),
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect((server, port))
        sock.send(query.pack())
        while True:
            reply = DNSRecord.parse(sock.recv(65535))
            if reply.header.id == query.header.id:
                return reply


def main(argv: list[str] | None = None) -> int:
    """Exit 0 when healthy, 1 when not."""
    parser = argparse.ArgumentParser(prog="python -m services.dns.probe")
    parser.add_argument("server")
    parser.add_argument("name")
    parser.add_argument("type", nargs="?", default="SOA")
    parser.add_argument("--port", type=int, default=53)
    parser.add_argument("--norec", action="store_true", help="RD=0 (for authoritative servers)")
    parser.add_argument("--aa", action="store_true", help="require an authoritative answer")
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args(argv)
    try:
        reply = probe(args.server, args.name, args.type, args.port, not args.norec, args.timeout)
    except Exception as e:  # any failure at all means unhealthy
        sys.stderr.write(f"probe: no usable reply from {args.server}: {e}\n")
        return 1
    healthy = reply.header.rcode == RCODE.NOERROR and bool(reply.rr)
    if args.aa:
        healthy = healthy and bool(reply.header.aa)
    if not healthy:
        sys.stderr.write(
            f"probe: {RCODE.get(reply.header.rcode)} aa={reply.header.aa} answers={len(reply.rr)}\n"
        )
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
