"""Annotate a pcapng capture: host names, a file comment and packet comments.

Pure Python over the block structure of the pcapng format (IETF draft
draft-ietf-opsawg-pcapng, "PCAP Next Generation Dump File Format"): every
block is ``type, total length, body, total length``, and options are
``code, length, value`` padded to 32 bits and ended by opt_endofopt.

- A Name Resolution Block (section 4.5) maps the lab's addresses to their
  names, so Wireshark shows ``a.root-servers.net`` instead of 198.51.100.4
  with no hosts file. It goes right after the first Interface Description
  Block, before any packet that needs it.
- The Section Header Block's opt_comment (section 3.5) holds the file
  comment: which scenario, when. ``capinfos`` prints it.
- An Enhanced Packet Block's opt_comment (section 4.3) marks where a step
  begins; ``frame.comment`` filters on it.

Every other block, the Decryption Secrets Block with the TLS key log
included, is copied byte for byte.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab import topology

SHB = 0x0A0D0D0A
IDB = 0x00000001
NRB = 0x00000004
EPB = 0x00000006
DSB = 0x0000000A
BYTE_ORDER_MAGIC = 0x1A2B3C4D

OPT_ENDOFOPT = 0
OPT_COMMENT = 1
IF_TSRESOL = 9
NRB_RECORD_END = 0
NRB_RECORD_IPV4 = 1


class PcapngError(ValueError):
    """The file is not a pcapng this module can read."""


@dataclass
class Block:
    type: int
    body: bytes  # between the leading and trailing total-length fields


def _pad(n: int) -> int:
    return (4 - n % 4) % 4


def read_blocks(data: bytes) -> tuple[str, list[Block]]:
    """Split a one-section pcapng into blocks; returns the byte order ('<' or '>')."""
    if len(data) < 28 or struct.unpack_from("<I", data)[0] != SHB:
        raise PcapngError("not a pcapng file (no Section Header Block)")
    magic = struct.unpack_from("<I", data, 8)[0]
    order = "<" if magic == BYTE_ORDER_MAGIC else ">"
    if struct.unpack_from(order + "I", data, 8)[0] != BYTE_ORDER_MAGIC:
        raise PcapngError("bad byte-order magic in the Section Header Block")
    blocks: list[Block] = []
    off = 0
    while off + 12 <= len(data):
        btype, length = struct.unpack_from(order + "II", data, off)
        if length < 12 or length % 4 or off + length > len(data):
            raise PcapngError(f"corrupt block at offset {off} (length {length})")
        if btype == SHB and blocks:
            raise PcapngError("files with more than one section are not supported")
        blocks.append(Block(btype, data[off + 8 : off + length - 4]))
        off += length
    return order, blocks


def write_blocks(order: str, blocks: list[Block]) -> bytes:
    out = bytearray()
    for b in blocks:
        length = len(b.body) + 12
        out += struct.pack(order + "II", b.type, length) + b.body + struct.pack(order + "I", length)
    return bytes(out)


def _options(order: str, raw: bytes) -> Iterator[tuple[int, bytes]]:
    off = 0
    while off + 4 <= len(raw):
        code, length = struct.unpack_from(order + "HH", raw, off)
        if code == OPT_ENDOFOPT:
            return
        yield code, raw[off + 4 : off + 4 + length]
        off += 4 + length + _pad(length)


def _encode_options(order: str, opts: list[tuple[int, bytes]]) -> bytes:
    if not opts:
        return b""
    out = bytearray()
    for code, value in opts:
        out += struct.pack(order + "HH", code, len(value)) + value + b"\0" * _pad(len(value))
    return bytes(out + struct.pack(order + "HH", OPT_ENDOFOPT, 0))


def _with_comment(order: str, fixed: bytes, raw_opts: bytes, comment: str) -> bytes:
    """FIXED part + options with every old opt_comment replaced by COMMENT."""
    kept = [(c, v) for c, v in _options(order, raw_opts) if c != OPT_COMMENT]
    return fixed + _encode_options(order, [(OPT_COMMENT, comment.encode()), *kept])


def _epb_split(order: str, body: bytes) -> tuple[bytes, bytes]:
    """An EPB body as (fixed fields + padded packet data, options)."""
    caplen = struct.unpack_from(order + "I", body, 12)[0]
    end = 20 + caplen + _pad(caplen)
    return body[:end], body[end:]


def name_resolution_block(order: str, names: Mapping[str, str]) -> Block:
    """An NRB with one IPv4 record per address; the value lists its names, space separated."""
    body = bytearray()
    for address, hostnames in names.items():
        value = ipaddress.IPv4Address(address).packed
        value += b"".join(n.encode() + b"\0" for n in hostnames.split())
        body += struct.pack(order + "HH", NRB_RECORD_IPV4, len(value)) + value
        body += b"\0" * _pad(len(value))
    body += struct.pack(order + "HH", NRB_RECORD_END, 0)
    return Block(NRB, bytes(body))


def add_names_and_comments(
    src: Path, dst: Path, names: Mapping[str, str], comment: str, packet_comments: Mapping[int, str]
) -> None:
    """Write DST = SRC plus an NRB of NAMES, the file COMMENT and per-frame comments.

    NAMES maps an IPv4 address to one or more host names (space separated; Wireshark
    4.0 shows the last). PACKET_COMMENTS maps 1-based frame
    numbers, as Wireshark counts them, to a comment. Existing NRBs are
    replaced; every other block is kept as it was, in its place.
    """
    order, blocks = read_blocks(src.read_bytes())
    out: list[Block] = []
    frame = 0
    nrb_done = not names
    for i, b in enumerate(blocks):
        if i == 0:
            # SHB: magic, version, section length; -1 = "not given", since blocks change size.
            fixed = b.body[:4] + b.body[4:8] + struct.pack(order + "q", -1)
            b = Block(
                SHB,
                _with_comment(order, fixed, b.body[16:], comment)
                if comment
                else fixed + b.body[16:],
            )
        elif b.type == NRB:
            continue
        elif b.type == EPB:
            frame += 1
            if frame in packet_comments:
                fixed, opts = _epb_split(order, b.body)
                b = Block(EPB, _with_comment(order, fixed, opts, packet_comments[frame]))
        out.append(b)
        if b.type == IDB and not nrb_done:
            out.append(name_resolution_block(order, names))
            nrb_done = True
    if not nrb_done:  # no interface at all: an NRB right after the SHB is still valid
        out.insert(1, name_resolution_block(order, names))
    dst.write_bytes(write_blocks(order, out))


def _tsresol(order: str, idb: Block) -> float:
    """Seconds per timestamp unit of an interface (if_tsresol; microseconds if absent)."""
    for code, value in _options(order, idb.body[8:]):
        if code == IF_TSRESOL and value:
            r = value[0]
            return 2.0 ** -(r & 0x7F) if r & 0x80 else 10.0**-r
    return 1e-6


def packet_times(path: Path) -> list[float]:
    """The wall-clock time (Unix seconds) of every packet, in frame order."""
    order, blocks = read_blocks(path.read_bytes())
    units: list[float] = []
    times: list[float] = []
    for b in blocks:
        if b.type == IDB:
            units.append(_tsresol(order, b))
        elif b.type == EPB:
            iface, hi, lo = struct.unpack_from(order + "III", b.body)
            times.append(((hi << 32) | lo) * units[iface])
    return times


def first_frame_at(times: list[float], when: float) -> int | None:
    """The 1-based number of the first frame at or after WHEN, or None if none is."""
    for i, t in enumerate(times, 1):
        if t >= when:
            return i
    return None


def lab_names(plan: topology.Plan = topology.DEFAULT_PLAN) -> dict[str, str]:
    """Address -> 'service dns_name' for every lab host, as the NRB wants it.

    Wireshark 4.0 keeps the last name of a record, so the DNS name goes last.
    Name resolution is off by default in tshark and Wireshark alike
    (nameres.network_name): use ``tshark -N n`` or View > Name Resolution >
    Resolve Network Addresses.
    """
    # Every address of a host: a router is seen on each of its networks (the home router's
    # WAN address is the home's public address, where the NAT puts the client).
    return {a: f"{h.service} {h.dns_name}" for h in plan.hosts for a in h.addresses.values()}


def step_comments(
    times: list[float],
    fetches: Sequence[Mapping[str, Any]],
    steps: Sequence[Mapping[str, Any]] = (),
) -> dict[int, str]:
    """Frame comments marking where each scenario step and each request began."""
    out: dict[int, str] = {}
    for s in steps:
        frame = first_frame_at(times, float(s.get("started") or 0))
        if frame is not None:
            note = f"step {s.get('index')}: {s.get('kind')} {s.get('target', '')} begins"
            out[frame] = f"{out[frame]}; {note}" if frame in out else note
    for i, f in enumerate(fetches, 1):
        frame = first_frame_at(times, float(f.get("started") or 0))
        if frame is not None:
            note = f"request {i}: GET {f.get('url', '')} begins"
            out[frame] = f"{out[frame]}; {note}" if frame in out else note
    return out


def annotate_run(capture: Path, scenario: str, timeline: Mapping[str, Any]) -> None:
    """Rewrite CAPTURE in place with the lab's names, a file comment and request marks."""
    started = float(timeline.get("started") or 0)
    when = dt.datetime.fromtimestamp(started, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    comment = f"weblab scenario {scenario}, run at {when}"
    marks = step_comments(
        packet_times(capture), timeline.get("fetches") or [], timeline.get("steps") or []
    )
    tmp = capture.with_suffix(".annotating")
    names = lab_names(topology.plan_of(dict(timeline)))
    add_names_and_comments(capture, tmp, names, comment, marks)
    tmp.replace(capture)
