"""When a held packet goes out: its link's delay, jitter, and first-in first-out.

netem (the kernel's own delay) keeps a link's packets in order unless asked
to reorder; a userspace hold must do the same or TCP sees reordering that the
profile never asked for (RFC 9293 §3.10.7.4: out-of-order segments are queued
and trigger duplicate ACKs, which would look like loss). So each peer gets a
release clock that only moves forward.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Rule:
    """The round trip added to replies toward one peer, in milliseconds."""

    delay_ms: float
    jitter_ms: float = 0.0


@dataclass
class Holder:
    """Release times for held packets, per peer, never earlier than the one before."""

    rng: random.Random = field(default_factory=random.Random)
    _last: dict[str, float] = field(default_factory=dict)

    def release_at(self, peer: str, now: float, rule: Rule, extra_ms: float = 0.0) -> float:
        """The monotonic time (seconds) at which a packet to ``peer`` held at ``now`` goes out."""
        delay = rule.delay_ms + extra_ms
        if rule.jitter_ms:
            delay += self.rng.uniform(-rule.jitter_ms, rule.jitter_ms)
        at = now + max(delay, 0.0) / 1000
        last = self._last.get(peer, 0.0)
        if at < last:
            at = last  # keep the link's order: a packet never overtakes the one before it
        self._last[peer] = at
        return at

    def forget(self) -> None:
        """Drop the per-peer clocks (after a new plan: old releases no longer bind)."""
        self._last.clear()


def ipv4_endpoints(packet: bytes) -> tuple[str, str, int, int, int] | None:
    """(source, destination, protocol, source port, destination port) of an IPv4 packet.

    None if it is not IPv4. RFC 791 §3.1: the version is the high nibble of
    byte 0, IHL (in 32-bit words) the low one; addresses sit at bytes 12-15
    and 16-19. The ports are the first two 16-bit words after the header for
    TCP (RFC 9293 §3.1) and UDP (RFC 768); 0 for other protocols.
    """
    if len(packet) < 20 or packet[0] >> 4 != 4:
        return None
    ihl = (packet[0] & 0x0F) * 4
    proto = packet[9]
    src = ".".join(str(b) for b in packet[12:16])
    dst = ".".join(str(b) for b in packet[16:20])
    sport = dport = 0
    if proto in (6, 17) and len(packet) >= ihl + 4:
        sport = int.from_bytes(packet[ihl : ihl + 2], "big")
        dport = int.from_bytes(packet[ihl + 2 : ihl + 4], "big")
    return src, dst, proto, sport, dport
