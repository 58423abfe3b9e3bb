"""One capture over every lab network: each packet once, and each packet at every hop.

The capture listens on the bridges of all four networks at once (one pcapng,
one Interface Description Block per network). A packet from the client to the
CDN edge is then in the file four times: on the home LAN (the client's own
address, the client's and the home router's MACs), on the ISP's network (the
home's public address and a translated port, after the NAT), on the transit
link and on the servers' network, one TTL less and new MACs at each hop.

That is what ``hops.pcapng`` keeps, for following a packet hop by hop. For
everything that counts and times packets (the expectations, the report, the
HAR) each packet must count once, so ``capture.pcapng`` keeps one copy of
each: the one on the network nearest the client (home, then the ISP's, then
transit, then the servers'). The client's conversations are then seen as the
client sees them, the resolver's walk as the resolver sees it, and the edge's
requests to its origins on the servers' network where they happen.

Copies of one packet are found by what a router leaves alone: the IP
identification, total length and protocol, and the transport header and
payload without the addresses, ports and checksums that NAT rewrites (for
TCP: sequence and acknowledgement numbers, flags, window, payload; for UDP
the payload; for ICMP errors the quoted packet's identification). Two frames
are copies only when they are on different networks within ``WINDOW``
seconds of each other, so a retransmission is never mistaken for one.

Interfaces are named by network (``home``, ``isp``, ``transit``,
``internet``) with the bridge and subnet as their description, so Wireshark's
``frame.interface_name == "home"`` picks one network.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lab.capture.pcapng import (
    EPB,
    IDB,
    SHB,
    Block,
    _encode_options,
    _options,
    _tsresol,
    read_blocks,
    write_blocks,
)

IF_NAME = 2
IF_DESCRIPTION = 3
WINDOW = 0.2  # seconds within which two frames on different networks can be one packet
NEAREST_FIRST = ("home", "isp", "transit", "internet")


@dataclass
class Frame:
    index: int  # position in the raw file
    iface: int
    time: float
    block: Block
    key: bytes | None  # None: a frame no router forwards (ARP, DHCP on the LAN, ...)


def packet_key(data: bytes) -> bytes | None:
    """What stays the same in a packet as routers and the NAT forward it; None if not IPv4."""
    if len(data) < 34 or data[12:14] != b"\x08\x00":
        return None
    ip = data[14:]
    ihl = (ip[0] & 0x0F) * 4
    total, ident = struct.unpack_from("!HH", ip, 2)
    proto = ip[9]
    l4 = ip[ihl:total]
    if proto == 6 and len(l4) >= 20:  # TCP: seq, ack, offset/flags, window; then the payload
        rest = l4[4:16] + l4[20:]
    elif proto == 17 and len(l4) >= 8:  # UDP: length, then the payload
        rest = l4[4:6] + l4[8:]
    elif proto == 1 and len(l4) >= 8:
        if l4[0] in (3, 11, 12) and len(l4) >= 28:  # an error quotes a packet the NAT rewrote
            rest = l4[:2] + l4[8 + 4 : 8 + 6]  # type, code, the quoted packet's IP ID
        else:  # echo: the NAT rewrites the identifier; the sequence and data stay
            rest = l4[:2] + l4[6:]
    else:
        rest = l4
    head = struct.pack("!HHB", total, ident, proto)
    return head + hashlib.blake2b(rest, digest_size=12).digest()


def _frames(order: str, blocks: Sequence[Block]) -> tuple[list[Block], list[Frame], list[Block]]:
    idbs: list[Block] = []
    frames: list[Frame] = []
    others: list[Block] = []
    units: list[float] = []
    for b in blocks:
        if b.type == IDB:
            idbs.append(b)
            units.append(_tsresol(order, b))
        elif b.type == EPB:
            iface, hi, lo, caplen = struct.unpack_from(order + "IIII", b.body)
            data = b.body[20 : 20 + caplen]
            frames.append(Frame(len(frames), iface, ((hi << 32) | lo) * units[iface], b,
                                packet_key(data)))  # fmt: skip
        elif b.type != SHB:
            others.append(b)
    return idbs, frames, others


def nearest_copies(frames: Sequence[Frame], rank: Mapping[int, int]) -> set[int]:
    """The indexes of the frames to keep: of each packet's copies, the one on the network
    ranked first (RANK: interface id -> 0 for the nearest). Frames in time order."""
    keep: set[int] = set()
    open_groups: dict[bytes, list[Frame]] = {}
    for f in frames:
        if f.key is None:
            keep.add(f.index)
            continue
        group = open_groups.get(f.key)
        if (group and f.time - group[0].time <= WINDOW
                and all(g.iface != f.iface for g in group)):  # fmt: skip
            group.append(f)
            continue
        if group:
            keep.add(min(group, key=lambda g: rank.get(g.iface, 99)).index)
        open_groups[f.key] = [f]
    for group in open_groups.values():
        keep.add(min(group, key=lambda g: rank.get(g.iface, 99)).index)
    return keep


def _named_idb(order: str, idb: Block, name: str, description: str) -> Block:
    fixed, opts = idb.body[:8], idb.body[8:]
    kept = [(c, v) for c, v in _options(order, opts) if c not in (IF_NAME, IF_DESCRIPTION)]
    new = [(IF_NAME, name.encode()), (IF_DESCRIPTION, description.encode()), *kept]
    return Block(IDB, fixed + _encode_options(order, new))


def split(raw: Path, view: Path, hops: Path, interfaces: Sequence[tuple[str, str]]) -> int:
    """Write VIEW (each packet once, nearest the client) and HOPS (every copy) from RAW.

    INTERFACES gives, in the order the capture opened them, each interface's
    (network, description). Both files are in time order. Returns the number
    of frames HOPS has that VIEW left out."""
    order, blocks = read_blocks(raw.read_bytes())
    idbs, frames, others = _frames(order, blocks)
    names = list(interfaces) + [(f"if{i}", "") for i in range(len(interfaces), len(idbs))]
    idbs = [_named_idb(order, b, *names[i]) for i, b in enumerate(idbs)]
    frames.sort(key=lambda f: (f.time, f.index))
    rank = {i: (NEAREST_FIRST.index(n) if n in NEAREST_FIRST else 9)
            for i, (n, _) in enumerate(names)}  # fmt: skip
    keep = nearest_copies(frames, rank)
    head = [blocks[0], *idbs, *others]
    hops.write_bytes(write_blocks(order, head + [f.block for f in frames]))
    view.write_bytes(write_blocks(order, head + [f.block for f in frames if f.index in keep]))
    return len(frames) - len(keep)
