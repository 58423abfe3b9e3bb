"""Release times of held packets: delay, jitter, order; parsing the IPv4 header."""

from __future__ import annotations

import random
import struct

import pytest

from services.linkdelay.hold import Holder, Rule, ipv4_endpoints


def test_release_is_now_plus_the_rule() -> None:
    """A packet held at t goes out at t + delay."""
    holder = Holder()
    assert holder.release_at("198.51.100.100", 10.0, Rule(18.0)) == pytest.approx(10.018)


def test_extra_delay_adds_to_the_rule() -> None:
    """A delay fault's extra milliseconds add to the link's own."""
    holder = Holder()
    assert holder.release_at("198.51.100.100", 10.0, Rule(18.0), 200.0) == pytest.approx(10.218)


def test_jitter_stays_within_its_bound() -> None:
    """Jitter moves each release by at most ±jitter around the delay."""
    holder = Holder(rng=random.Random(1))
    spread = []
    for i in range(200):
        now = 100.0 + i  # a second apart: order never binds
        spread.append(holder.release_at("p", now, Rule(40.0, 5.0)) - now)
    assert min(spread) >= 0.035
    assert max(spread) <= 0.045
    assert max(spread) - min(spread) > 0.005  # it does vary


def test_a_packet_never_overtakes_the_one_before() -> None:
    """With jitter, a later packet to the same peer is released no earlier (FIFO per peer)."""
    holder = Holder(rng=random.Random(7))
    times = [holder.release_at("p", 1.0 + i * 0.0001, Rule(40.0, 20.0)) for i in range(100)]
    assert times == sorted(times)


def test_order_is_per_peer() -> None:
    """One peer's queue does not hold back another's packets."""
    holder = Holder()
    holder.release_at("far", 1.0, Rule(150.0))
    assert holder.release_at("near", 1.0, Rule(10.0)) == pytest.approx(1.010)


def test_forget_drops_the_order_after_a_new_plan() -> None:
    """After a new plan, a shorter delay applies at once instead of queueing behind old ones."""
    holder = Holder()
    holder.release_at("p", 1.0, Rule(150.0))
    holder.forget()
    assert holder.release_at("p", 1.0, Rule(10.0)) == pytest.approx(1.010)


def _ipv4(proto: int, src: str, dst: str, payload: bytes, ihl: int = 5) -> bytes:
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x40 | ihl,
        0,
        20 + len(payload),
        0,
        0,
        64,
        proto,
        0,
        bytes(int(x) for x in src.split(".")),
        bytes(int(x) for x in dst.split(".")),
    )
    return header + b"\x00" * (ihl * 4 - 20) + payload


@pytest.mark.parametrize(
    ("packet", "expected"),
    [
        (
            _ipv4(17, "198.51.100.53", "198.51.100.100", struct.pack("!HH", 53, 40000)),
            ("198.51.100.53", "198.51.100.100", 17, 53, 40000),
        ),
        (
            _ipv4(6, "198.51.100.80", "198.51.100.100", struct.pack("!HH", 443, 50000)),
            ("198.51.100.80", "198.51.100.100", 6, 443, 50000),
        ),
        (  # options in the header: the port is found after IHL words, not at byte 20
            _ipv4(6, "198.51.100.80", "198.51.100.1", struct.pack("!HH", 80, 1), ihl=6),
            ("198.51.100.80", "198.51.100.1", 6, 80, 1),
        ),
        (
            _ipv4(1, "198.51.100.4", "198.51.100.53", b"\x08\x00"),
            ("198.51.100.4", "198.51.100.53", 1, 0, 0),
        ),
        (b"\x60" + b"\x00" * 39, None),  # IPv6
        (b"\x45\x00", None),  # truncated
    ],
)
def test_ipv4_endpoints(packet: bytes, expected: tuple[str, str, int, int, int] | None) -> None:
    """Addresses, protocol and ports come from the right offsets (RFC 791 §3.1)."""
    assert ipv4_endpoints(packet) == expected
