"""services.attacker.poison: the forged datagram and the order of its guesses.

The race itself needs a raw socket and the lab (tests/integration, `lab run
cache-poisoning`); here the bytes it sends are checked with dnslib and struct.
"""

from __future__ import annotations

import socket
import struct

from dnslib import QTYPE, DNSRecord

from lab.report.poison import odds, poison_section
from services.attacker.poison import ID_SPACE, forged_packet, id_order


def test_forged_packet_is_an_authoritative_answer_from_the_spoofed_server() -> None:
    """IPv4 from the zone's server, UDP 53 -> the port given, a DNS answer with AA for the
    question, claiming the forged address; the UDP checksum is 0 (none), so patching the
    ID and the port keeps the datagram valid."""
    pkt = forged_packet(
        "198.51.100.21", "198.51.100.53", 5300, "x1-ab.example.com.", "203.0.113.66"
    )
    assert pkt[0] == 0x45
    assert pkt[9] == socket.IPPROTO_UDP
    assert socket.inet_ntoa(bytes(pkt[12:16])) == "198.51.100.21"
    assert socket.inet_ntoa(bytes(pkt[16:20])) == "198.51.100.53"
    sport, dport, length, checksum = struct.unpack("!HHHH", bytes(pkt[20:28]))
    assert (sport, dport, checksum) == (53, 5300, 0)
    assert length == len(pkt) - 20
    pkt[28], pkt[29] = 0x12, 0x34
    reply = DNSRecord.parse(bytes(pkt[28:]))
    assert reply.header.id == 0x1234
    assert reply.header.qr == 1
    assert reply.header.aa == 1
    assert str(reply.q.qname) == "x1-ab.example.com."
    assert [(str(r.rdata), r.rtype) for r in reply.rr] == [("203.0.113.66", QTYPE.A)]


def test_id_order_guesses_every_id_once() -> None:
    order = id_order(start=40000, step=12346)  # an even step is made odd: still a full cycle
    assert len(set(order)) == ID_SPACE
    assert order[0] == 40000


def test_odds_per_race() -> None:
    """One in 65,536 per guess with the port known; times 28,232 ports without."""
    assert odds(32768, weak=True) == 0.5
    assert odds(100000, weak=True) == 1.0
    assert odds(65536, weak=False) == 1 / 28232


def test_report_tells_both_modes() -> None:
    race = {"try": 1, "name": "x1-ab.example.com.", "sent": 40000, "ms": 480.0,
            "answer": ["203.0.113.66"], "rcode": "NOERROR", "poisoned": True}  # fmt: skip
    summary = {"sent": 40000, "tries": 1, "rate_pps": 83000}
    weak = {"step": 3, "mode": "weak", "port": 5300, "races": [race], "summary": summary,
            "forged_in_cache": [{"name": "x1-ab.example.com."}], "client_fooled": [],
            "ignored": 39_000, "closed_port": 5}  # fmt: skip
    html = poison_section({"poison": [weak]})
    assert "<h2>Cache poisoning</h2>" in html
    assert "UDP port 5300" in html
    assert "turned down 39,000 of them" in html
    assert "<b>poisoned</b>" in html
    assert poison_section({}) == ""
