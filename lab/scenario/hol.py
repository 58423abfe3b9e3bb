"""Head-of-line blocking in one step: which responses waited for a packet not their own.

The capture is taken on the lab's bridge, before the drop fault loses its
packet (it is dropped as the client receives it), so it shows every packet
once as it crossed the wire, the lost one included, and the server's repair
later. The client's timeline says when the browser had each whole response.
Both clocks are the one kernel's. Per response:

- ``wire``: when its last byte crossed the wire (the capture, first copy);
- ``app``: when the browser had it (timeline: started + total). The link delay
  daemons hold what servers receive, never what the client receives, so
  nothing stands between the bridge and the client but its own work.

Over HTTP/2 the bytes of every stream are one TCP byte stream: a response
whose bytes crossed the wire after the lost segment cannot be read before the
segment is sent again (``stalled``). Over HTTP/3 each QUIC stream is
reassembled on its own: only the streams whose frames rode in the lost packet
wait (``lost``); the others are handed over as they arrive (``unblocked``).

HTTP/3 keeps one thing shared between streams: QPACK's encoder stream (RFC
9204 2.1.2). A header block that refers to a dynamic table entry cannot be
decoded before the instruction that inserted it has arrived on that stream,
so a response can wait for encoder-stream bytes in a later packet (or in the
lost one). Such a response is ``qpack``: handed over just after an encoder
stream frame that came after its own last byte.

Found from the frames: for TCP, tshark's retransmission analysis names the
repair and the segment with the same sequence number is the lost one; for
QUIC, packet numbers are never reused, so the repair is the first packet that
carries stream data (stream, offset) already sent once, and the packet that
first carried it is the lost one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lab import topology
from lab.scenario import tshark

# A response whose last byte crossed the wire this close before the repair
# cannot be told apart: the browse client (Python, aioquic or h2) takes 3 to 9 ms
# here to hand over a response after its last packet, so waiting for the
# repair and its own work look the same. It is counted as neither.
CLOSE_MS = 15.0
# How much earlier than the repair the browser may seem to have had a stalled
# response: the clocks are one kernel's, the link delay daemon is under 1 ms late.
EARLY_MS = 1.0
STREAM_FRAME_TYPES = range(0x08, 0x10)  # RFC 9000 19.8: OFF 0x04, LEN 0x02, FIN 0x01


@dataclass
class Response:
    stream_id: int
    url: str
    wire: float  # epoch seconds: its last byte crossed the wire (first copy)
    app: float  # epoch seconds: the browser had the whole response
    verdict: str  # before, lost, stalled, unblocked, close, after
    waited_ms: float  # app - wire


@dataclass
class Hol:
    step: int
    protocol: str  # "2" (TCP) or "3" (QUIC)
    host: str
    lost_frame: int
    lost_at: float
    repaired_frame: int
    repaired_at: float
    lost_bytes: int
    lost_streams: list[int]
    responses: list[Response] = field(default_factory=list)
    # QUIC: when the server's QPACK encoder stream data crossed the wire (first copies)
    encoder: list[float] = field(default_factory=list)

    @property
    def repair_ms(self) -> float:
        return (self.repaired_at - self.lost_at) * 1000

    def count(self, verdict: str) -> int:
        return sum(r.verdict == verdict for r in self.responses)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"repair_ms": round(self.repair_ms, 3)}


def _ints(text: str) -> list[int]:
    return [int(x, 0) for x in text.split(",") if x]


def _window(started: float, finished: float) -> str:
    return f"frame.time_epoch >= {started:.6f} && frame.time_epoch <= {finished:.6f}"


def _server_names(capture: Path, window: str, key: str) -> dict[str, str]:
    """SNI of each connection in the window, by tcp.stream or the client's UDP port."""
    names: dict[str, str] = {}
    hellos = f"tls.handshake.type == 1 && {window}"
    for conn, sni in tshark.rows(capture, hellos, [key, "tls.handshake.extensions_server_name"]):
        if conn and sni:
            names.setdefault(conn.split(",")[0], sni.split(",")[0])
    return names


@dataclass
class _Loss:
    conn: str
    lost_frame: int
    lost_at: float
    repaired_frame: int
    repaired_at: float
    lost_bytes: int
    lost_streams: list[int]
    done: dict[int, float]  # stream -> when its last frame crossed the wire (first copy)
    encoder: list[float] = field(default_factory=list)  # QPACK encoder stream frames


@dataclass(frozen=True)
class Drop:
    """A drop fault as the receiver's iptables rule matches: see lab/scenario/faults.py."""

    sender: str  # the sending host's address
    proto: str  # tcp or udp
    port: int
    min_bytes: int
    after_bytes: int
    packet: int
    since: float  # when the rule went in (the start of its before_step)


def dropped_frame(capture: Path, drop: Drop, until: float, client: str) -> int | None:
    """The frame the drop rule took, found by matching the capture as the rule does.

    The capture is taken before the receiver, so the packet is in it. The rule
    counts packets from SENDER's PORT to CLIENT of at least MIN_BYTES (the IP
    length, as iptables' length match) on a connection that has brought
    AFTER_BYTES so far, this packet included (conntrack counts at PREROUTING,
    before INPUT), and drops the PACKET-th; every packet before it passed.
    Other retransmissions in the step (a QUIC probe sent early, a spurious one)
    are then never taken for the loss.
    """
    conn = "tcp.stream" if drop.proto == "tcp" else "udp.stream"
    rows = tshark.rows(
        capture,
        f"ip.src == {drop.sender} && ip.dst == {client} && {drop.proto}.srcport == {drop.port}"
        f" && !icmp && {_window(drop.since, until)}",
        ["frame.number", "ip.len", conn],
    )
    brought: dict[str, int] = {}
    seen = 0
    for number, length, key in rows:
        n = int(length.split(",")[0] or 0)
        brought[key] = brought.get(key, 0) + n
        if n >= drop.min_bytes and brought[key] >= drop.after_bytes:
            seen += 1
            if seen == drop.packet:
                return int(number)
    return None


def _tcp_loss(capture: Path, window: str, client: str, lost_frame: int | None) -> _Loss | None:
    rows = list(
        tshark.rows(
            capture,
            f"tcp.srcport == 443 && ip.dst == {client} && {window}",
            [
                "frame.number",
                "frame.time_epoch",
                "tcp.stream",
                "tcp.seq",
                "tcp.len",
                "tcp.analysis.retransmission",
                "http2.streamid",
                "http2.type",
                "http2.flags",
            ],
        )  # fmt: skip
    )
    if lost_frame is not None:
        lost = next((r for r in rows if int(r[0]) == lost_frame), None)
        if lost is None:
            return None
        after = [r for r in rows if int(r[0]) > lost_frame]
        repair = next((r for r in after if r[2] == lost[2] and r[3] == lost[3]), None)
    else:
        repair = next((r for r in rows if r[5] and int(r[4] or 0) > 0), None)
        lost = repair and next(
            (r for r in rows if r[2] == repair[2] and r[3] == repair[3] and r[0] != repair[0]),
            None,
        )
    if repair is None or lost is None:
        return None
    conn = lost[2]
    done: dict[int, float] = {}
    lost_streams: set[int] = set()
    for r in rows:
        if r[2] != conn or r[5]:
            continue
        for sid, typ, flags in zip(_ints(r[6]), _ints(r[7]), _ints(r[8]), strict=False):
            if r[0] == lost[0] and sid:
                lost_streams.add(sid)  # a TLS record that ended in the lost segment
            if typ in (0, 1) and flags & 1 and sid not in done:
                done[sid] = float(r[1])
    return _Loss(conn, int(lost[0]), float(lost[1]), int(repair[0]), float(repair[1]),
                 int(lost[4]), sorted(lost_streams), done)  # fmt: skip


QPACK_ENCODER = 0x02  # RFC 9204 4.2: the unidirectional stream type of an encoder stream


def _quic_frames(r: list[str]) -> Iterator[tuple[int, int, int, bool, int | None]]:
    """(stream, offset, length, fin, uni stream type) of each STREAM frame in a datagram.

    tshark lists offset only for frames that carry one (OFF bit), and a stream
    type only where a unidirectional stream starts, so the lists are lined up by
    the frame types.
    """
    types, ids, offsets, lengths = _ints(r[3]), _ints(r[4]), _ints(r[5]), _ints(r[6])
    fins = [x in ("1", "True") for x in r[7].split(",") if x]
    kinds = _ints(r[9]) if len(r) > 9 else []
    for t in types:
        if t not in STREAM_FRAME_TYPES or not ids:
            continue
        sid = ids.pop(0)
        off = offsets.pop(0) if t & 0x04 and offsets else 0
        length = lengths.pop(0) if t & 0x02 and lengths else 0
        fin = fins.pop(0) if fins else False
        kind = kinds.pop(0) if sid % 4 == 3 and off == 0 and kinds else None
        yield sid, off, length, fin, kind


def _quic_loss(capture: Path, window: str, client: str, lost_frame: int | None) -> _Loss | None:
    rows = tshark.rows(
        capture,
        f"udp.srcport == 443 && ip.dst == {client} && quic && {window}",
        ["frame.number", "frame.time_epoch", "udp.dstport", "quic.frame_type",
         "quic.stream.stream_id", "quic.stream.offset", "quic.stream.length", "quic.stream.fin",
         "frame.len", "http3.stream_type"],
    )  # fmt: skip
    first: dict[tuple[str, int, int], tuple[int, float]] = {}
    encoders: dict[str, int] = {}  # connection -> its server's QPACK encoder stream
    encoder_at: dict[str, list[float]] = {}
    streams_in: dict[int, set[int]] = {}
    done: dict[str, dict[int, float]] = {}
    size: dict[int, int] = {}
    loss: tuple[str, int, float, int, float] | None = None  # conn, lost, at, repair, at
    for r in rows:
        number, when, conn = int(r[0]), float(r[1]), r[2]
        size[number] = int(r[8] or 0)
        for sid, off, length, fin, kind in _quic_frames(r):
            streams_in.setdefault(number, set()).add(sid)
            if kind == QPACK_ENCODER:
                encoders[conn] = sid
            if sid == encoders.get(conn) and off > 0:
                encoder_at.setdefault(conn, []).append(when)
            seen = first.setdefault((conn, sid, off), (number, when))
            chosen = lost_frame is None or seen[0] == lost_frame
            if loss is None and seen[0] != number and length and chosen:
                loss = (conn, seen[0], seen[1], number, when)
            if fin:
                done.setdefault(conn, {}).setdefault(sid, when)
    if loss is None:
        return None
    conn, lost, lost_at, repair, repaired_at = loss
    return _Loss(conn, lost, lost_at, repair, repaired_at, size[lost],
                 sorted(streams_in[lost]), done[conn], encoder_at.get(conn, []))  # fmt: skip


def analyse(
    capture: Path,
    step: int,
    fetches: list[dict[str, Any]],
    started: float,
    finished: float,
    client: str = topology.BY_SERVICE["client"].ipv4,
    drops: tuple[Drop, ...] = (),
) -> Hol | None:
    """The step's lost packet to CLIENT and what each response did about it.

    With DROPS (the run's drop faults) the lost packet is the one the fault's rule
    took; without, the first packet whose bytes were sent again.
    """
    window = _window(started, finished)
    protocol = "3" if any(f.get("http_version") == "3" for f in fetches) else "2"
    quic = protocol == "3"
    lost_frame = None
    mine = [d for d in drops if d.proto == ("udp" if quic else "tcp") and d.since <= finished]
    if mine:
        lost_frame = dropped_frame(capture, mine[0], finished, client)
        if lost_frame is None:
            return None  # the rule took nothing (yet): no loss to analyse
    loss = (_quic_loss if quic else _tcp_loss)(capture, window, client, lost_frame)
    if loss is None:
        return None
    names = _server_names(capture, window, "udp.srcport" if quic else "tcp.stream")
    host = names.get(loss.conn, "")
    hol = Hol(step, protocol, host, loss.lost_frame, loss.lost_at, loss.repaired_frame,
              loss.repaired_at, loss.lost_bytes, loss.lost_streams,
              encoder=loss.encoder)  # fmt: skip
    for f in fetches:
        sid = f.get("stream_id")
        if f.get("host") != host or sid is None or sid not in loss.done or not f.get("status"):
            continue
        wire = loss.done[sid]
        app = float(f["started"]) + float(f["total_ms"]) / 1000
        hol.responses.append(
            Response(
                int(sid),
                str(f["url"]),
                wire,
                app,
                _verdict(hol, int(sid), wire, app),
                round((app - wire) * 1000, 3),
            )  # fmt: skip
        )
    hol.responses.sort(key=lambda r: r.wire)
    return hol


def _verdict(hol: Hol, sid: int, wire: float, app: float) -> str:
    if sid in hol.lost_streams:
        return "lost"  # its own bytes were in the lost packet
    close = CLOSE_MS / 1000
    if app - wire > close and any(wire < t <= app and app - t < close for t in hol.encoder):
        return "qpack"  # handed over just after encoder-stream bytes that came after it
    if wire < hol.lost_at:
        return "before"
    if wire >= hol.repaired_at:
        return "after"
    if (hol.repaired_at - wire) * 1000 < CLOSE_MS:
        return "close"
    return "stalled" if app >= hol.repaired_at - EARLY_MS / 1000 else "unblocked"


def for_run(
    capture: Path,
    outcomes: list[Any],
    faults: Sequence[Any],
    plan: topology.Plan = topology.DEFAULT_PLAN,
) -> dict[int, Hol]:
    """The loss analysis of every browse step from the first drop fault on."""
    starts = {o.index: o.started for o in outcomes}
    drops = tuple(
        Drop(
            plan.address(f.service),
            f.proto,
            int(dict(f.settings)["port"]),
            int(dict(f.settings).get("min_bytes", 0)),
            int(dict(f.settings).get("after_bytes", 0)),
            int(dict(f.settings)["packet"]),
            starts.get(f.before_step, 0.0),
        )  # fmt: skip
        for f in faults
        if f.kind == "drop"
    )
    if not drops:
        return {}
    first = min(f.before_step for f in faults if f.kind == "drop")
    client = plan.address("client")
    out = {}
    for o in outcomes:
        if o.kind != "browse" or o.index < first or not o.finished:
            continue
        found = analyse(
            capture, o.index, o.detail.get("fetches", []), o.started, o.finished, client, drops
        )
        if found is not None:
            out[o.index] = found
    return out
