"""lab.capture.hops: one packet's copies across the NAT and the routers, and the two files.

The frames are built here, byte by byte, as the four bridges see them: the home copy
(the client's own address and port), then after the home router's NAT the home's
public address and a new port, new checksums and one TTL less at each hop.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from lab.capture import hops
from lab.capture.pcapng import EPB, IDB, SHB, Block, _encode_options, read_blocks, write_blocks
from lab.topology import DEFAULT_PLAN

P = DEFAULT_PLAN
CLIENT, PUBLIC = P.address("client"), P.public
EDGE, RESOLVER = P.address("edge"), P.address("resolver")
ISP_ROUTER = P.address("isp-router")


def _sum16(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _addr(a: str) -> bytes:
    return bytes(int(x) for x in a.split("."))


def ipv4(src: str, dst: str, proto: int, l4: bytes, ident: int, ttl: int = 64) -> bytes:
    """An IPv4 packet with a correct header checksum."""
    head = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), ident, 0x4000, ttl, proto, 0, _addr(src), _addr(dst)
    )
    return head[:10] + struct.pack("!H", _sum16(head)) + head[12:] + l4


def _l4_checksum(src: str, dst: str, proto: int, l4: bytes, at: int) -> bytes:
    pseudo = _addr(src) + _addr(dst) + struct.pack("!BBH", 0, proto, len(l4))
    return l4[:at] + struct.pack("!H", _sum16(pseudo + l4)) + l4[at + 2 :]


def tcp(src: str, sport: int, dst: str, dport: int, seq: int, payload: bytes = b"") -> bytes:
    head = struct.pack("!HHIIBBHHH", sport, dport, seq, 7, 5 << 4, 0x18, 502, 0, 0)
    return _l4_checksum(src, dst, 6, head + payload, 16)


def udp(src: str, sport: int, dst: str, dport: int, payload: bytes) -> bytes:
    head = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    return _l4_checksum(src, dst, 17, head + payload, 6)


def icmp(kind: int, code: int, rest: bytes) -> bytes:
    head = struct.pack("!BBH", kind, code, 0) + rest
    return head[:2] + struct.pack("!H", _sum16(head)) + head[4:]


def frame(packet: bytes, hop: int) -> bytes:
    """PACKET in an Ethernet frame with the MACs of hop HOP (each hop has its own pair)."""
    macs = bytes([2, 0x42, 0, 0, hop, 1]) + bytes([2, 0x42, 0, 0, hop, 2])
    return macs + b"\x08\x00" + packet


def test_tcp_copies_across_the_nat_share_a_key() -> None:
    """The home copy and the ISP copy (new source address and port, checksums, TTL, MACs)
    are one packet; the same segment sent again with a new IP ID is another."""
    data = b"\x17\x03\x03\x00\x10" + bytes(16)
    home = frame(ipv4(CLIENT, EDGE, 6, tcp(CLIENT, 40000, EDGE, 443, 1000, data), 77), 1)
    isp = frame(ipv4(PUBLIC, EDGE, 6, tcp(PUBLIC, 61000, EDGE, 443, 1000, data), 77, 63), 2)
    internet = frame(ipv4(PUBLIC, EDGE, 6, tcp(PUBLIC, 61000, EDGE, 443, 1000, data), 77, 61), 4)
    assert home != isp
    assert hops.packet_key(home) is not None
    assert hops.packet_key(home) == hops.packet_key(isp) == hops.packet_key(internet)
    again = frame(ipv4(CLIENT, EDGE, 6, tcp(CLIENT, 40000, EDGE, 443, 1000, data), 78), 1)
    assert hops.packet_key(again) != hops.packet_key(home)
    later = frame(ipv4(CLIENT, EDGE, 6, tcp(CLIENT, 40000, EDGE, 443, 1021, data), 77), 1)
    assert hops.packet_key(later) != hops.packet_key(home)  # another segment


def test_udp_copies_across_the_nat_share_a_key() -> None:
    """A DNS query through the NAT: new source port and checksum, same payload and IP ID."""
    query = bytes.fromhex("1234010000010000000000000377777707657861") + b"\x00\x00\x01\x00\x01"
    home = frame(ipv4(CLIENT, RESOLVER, 17, udp(CLIENT, 53000, RESOLVER, 53, query), 5), 1)
    isp = frame(ipv4(PUBLIC, RESOLVER, 17, udp(PUBLIC, 1024, RESOLVER, 53, query), 5, 63), 2)
    assert hops.packet_key(home) == hops.packet_key(isp)
    other = query[:2] + b"\x99" + query[3:]
    assert hops.packet_key(
        frame(ipv4(CLIENT, RESOLVER, 17, udp(CLIENT, 53000, RESOLVER, 53, other), 5), 1)
    ) != (hops.packet_key(home))


def test_icmp_echo_copies_share_a_key_though_the_nat_rewrites_the_identifier() -> None:
    """A ping through the NAT: the identifier (and so the checksum) is rewritten; the
    sequence and data are not."""
    body = b"weblab-ping-data"
    home = frame(ipv4(CLIENT, EDGE, 1, icmp(8, 0, struct.pack("!HH", 0x1111, 3) + body), 9), 1)
    isp = frame(ipv4(PUBLIC, EDGE, 1, icmp(8, 0, struct.pack("!HH", 0x2222, 3) + body), 9, 63), 2)
    assert hops.packet_key(home) == hops.packet_key(isp)
    next_seq = frame(ipv4(CLIENT, EDGE, 1, icmp(8, 0, struct.pack("!HH", 0x1111, 4) + body), 9), 1)
    assert hops.packet_key(next_seq) != hops.packet_key(home)


def test_time_exceeded_quoting_a_natted_packet_shares_a_key() -> None:
    """A traceroute probe's time-exceeded from the ISP's router quotes the probe as it was
    after the NAT; on its way back the home router rewrites the outer destination and the
    quoted source address, port and checksums. Both copies are one packet."""

    def quoted(src: str, sport: int) -> bytes:
        probe = ipv4(src, EDGE, 17, udp(src, sport, EDGE, 33434, b"\0" * 24), 4242, 1)
        return probe[:28]  # RFC 792: the IP header and the first 8 bytes of its datagram

    isp = frame(
        ipv4(ISP_ROUTER, PUBLIC, 1, icmp(11, 0, bytes(4) + quoted(PUBLIC, 61001)), 300, 64), 2
    )
    home = frame(
        ipv4(ISP_ROUTER, CLIENT, 1, icmp(11, 0, bytes(4) + quoted(CLIENT, 40001)), 300, 63), 1
    )
    assert isp != home
    assert hops.packet_key(isp) == hops.packet_key(home)
    other = frame(
        ipv4(ISP_ROUTER, PUBLIC, 1, icmp(11, 0, bytes(4) + quoted(PUBLIC, 61001)), 301, 64), 2
    )
    assert hops.packet_key(other) != hops.packet_key(isp)


def test_no_key_for_what_no_router_forwards() -> None:
    """ARP (and anything not IPv4, or too short) has no key: it is kept as it is."""
    arp = bytes(12) + b"\x08\x06" + bytes(28)
    assert hops.packet_key(arp) is None
    assert hops.packet_key(bytes(12) + b"\x08\x00" + bytes(10)) is None


# The capture opens the bridges in lab/topology.py NETWORKS order.
IFACES = {n: i for i, n in enumerate(("internet", "isp", "home", "transit"))}
RANK = {IFACES[n]: r for r, n in enumerate(hops.NEAREST_FIRST)}


def _f(index: int, network: str, time: float, key: bytes | None = b"k") -> hops.Frame:
    return hops.Frame(index, IFACES[network], time, Block(EPB, b""), key)


def test_nearest_copies_keeps_the_home_copy_of_four() -> None:
    """A reply from the edge crosses internet, transit, isp, home: the home copy is kept; a
    frame with no key and another packet are kept as they are."""
    frames = [
        _f(0, "internet", 1.0),
        _f(1, "transit", 1.0001),
        _f(2, "isp", 1.0002),
        _f(3, "home", 1.0003),
        _f(4, "home", 1.001, None),
        _f(5, "internet", 1.002, b"x"),
    ]
    assert hops.nearest_copies(frames, RANK) == {3, 4, 5}


def test_nearest_copies_keeps_two_identical_frames_on_one_network() -> None:
    """Two equal frames on the SAME network are two packets (the one bridge never shows a
    packet twice), each with its copies elsewhere."""
    frames = [_f(0, "home", 1.0), _f(1, "isp", 1.0001), _f(2, "home", 1.01), _f(3, "isp", 1.0101)]
    assert hops.nearest_copies(frames, RANK) == {0, 2}


def test_nearest_copies_keeps_frames_outside_the_window_apart() -> None:
    """The same key on two networks more than WINDOW apart is two packets."""
    frames = [_f(0, "isp", 1.0), _f(1, "home", 1.0 + hops.WINDOW + 0.05)]
    assert hops.nearest_copies(frames, RANK) == {0, 1}
    close = [_f(0, "isp", 1.0), _f(1, "home", 1.0 + hops.WINDOW / 2)]
    assert hops.nearest_copies(close, RANK) == {1}


# --- split(): a small capture, written with lab/capture/pcapng.py's blocks ------------------


def _shb() -> Block:
    return Block(SHB, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))


def _idb(name: str) -> Block:
    opts = _encode_options("<", [(hops.IF_NAME, name.encode())])
    return Block(IDB, struct.pack("<HHI", 1, 0, 262144) + opts)


def _epb(iface: int, micros: int, data: bytes) -> Block:
    pad = b"\0" * ((4 - len(data) % 4) % 4)
    head = struct.pack("<IIIII", iface, micros >> 32, micros & 0xFFFFFFFF, len(data), len(data))
    return Block(EPB, head + data + pad)


def _raw(tmp_path: Path) -> Path:
    """A DNS query and its answer, each seen on home and isp; the capture wrote them out of
    time order (one interface's buffer after the other's), and an ARP on home."""
    t0 = 1_796_000_000_000_000
    q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01"
    a = b"\x12\x34\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01"
    ask_home = frame(ipv4(CLIENT, RESOLVER, 17, udp(CLIENT, 5300, RESOLVER, 53, q), 1), 1)
    ask_isp = frame(ipv4(PUBLIC, RESOLVER, 17, udp(PUBLIC, 1024, RESOLVER, 53, q), 1, 63), 2)
    ans_isp = frame(ipv4(RESOLVER, PUBLIC, 17, udp(RESOLVER, 53, PUBLIC, 1024, a), 2), 2)
    ans_home = frame(ipv4(RESOLVER, CLIENT, 17, udp(RESOLVER, 53, CLIENT, 5300, a), 2, 63), 1)
    arp = b"\xff" * 6 + bytes([2, 0x42, 0, 0, 1, 1]) + b"\x08\x06" + bytes(28)
    blocks = [
        _shb(),
        _idb("br-0internet"),
        _idb("br-00000isp"),
        _idb("br-0000home"),
        _idb("br-0transit"),
        _epb(1, t0 + 100, ask_isp),
        _epb(1, t0 + 5000, ans_isp),  # isp's buffer first
        _epb(2, t0, ask_home),
        _epb(2, t0 + 5100, ans_home),
        _epb(2, t0 + 9000, arp),
    ]
    raw = tmp_path / "raw.pcapng"
    raw.write_bytes(write_blocks("<", blocks))
    return raw


INTERFACES = [
    ("internet", "br-0internet 198.51.100.0/24"),
    ("isp", "br-00000isp 198.18.2.0/24"),
    ("home", "br-0000home 198.18.0.0/24"),
    ("transit", "br-0transit 198.18.1.0/24"),
]


def _packets(path: Path) -> list[tuple[int, float, bytes]]:
    _order, blocks = read_blocks(path.read_bytes())
    out = []
    for b in blocks:
        if b.type == EPB:
            iface, hi, lo, caplen = struct.unpack_from("<IIII", b.body)
            out.append((iface, ((hi << 32) | lo) / 1e6, b.body[20 : 20 + caplen]))
    return out


def test_split_writes_each_packet_once_and_every_copy(tmp_path: Path) -> None:
    """capture.pcapng: the home copies and the ARP, in time order; hops.pcapng: all five
    frames in time order; both name their interfaces by network, bridge and subnet."""
    view, every = tmp_path / "capture.pcapng", tmp_path / "hops.pcapng"
    left_out = hops.split(_raw(tmp_path), view, every, INTERFACES)
    assert left_out == 2
    seen = _packets(every)
    assert [i for i, _t, _d in seen] == [2, 1, 1, 2, 2]  # home, isp, isp, home, home
    assert [t for _i, t, _d in seen] == sorted(t for _i, t, _d in seen)
    kept = _packets(view)
    assert [i for i, _t, _d in kept] == [2, 2, 2]  # all on home: nearest the client
    assert [d[26:30] for _i, _t, d in kept[:2]] == [
        bytes(map(int, CLIENT.split("."))),
        bytes(map(int, RESOLVER.split("."))),
    ]
    for path in (view, every):
        _order, blocks = read_blocks(path.read_bytes())
        assert blocks[0].type == SHB
        idbs = [b for b in blocks if b.type == IDB]
        assert len(idbs) == 4
        assert b"home" in idbs[2].body
        assert b"br-0000home 198.18.0.0/24" in idbs[2].body


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_tshark_reads_both_files_by_network(tmp_path: Path) -> None:
    """tshark reads both files, each frame with its network as frame.interface_name, so
    `frame.interface_name == "home"` picks one network."""
    view, every = tmp_path / "capture.pcapng", tmp_path / "hops.pcapng"
    hops.split(_raw(tmp_path), view, every, INTERFACES)

    def names(path: Path, *extra: str) -> list[str]:
        r = subprocess.run(
            ["tshark", "-r", str(path), *extra, "-T", "fields", "-e", "frame.interface_name"],
            capture_output=True,
            text=True,
            check=True,
        )
        return r.stdout.split()

    assert names(every) == ["home", "isp", "isp", "home", "home"]
    assert names(view) == ["home", "home", "home"]
    assert names(every, "-Y", 'frame.interface_name == "isp"') == ["isp", "isp"]
