"""The QUIC part of the story: one handshake for transport and TLS, then HTTP/3 streams.

What the articles often compress into "TLS over UDP" is not what the capture
shows: QUIC carries TLS 1.3's handshake messages in its own CRYPTO frames,
with no TLS records at all, and protects its packets itself (RFC 9001): the
Initial packets with keys anyone can derive from the connection id (so a
capture reads the ClientHello without secrets), the Handshake and 1-RTT
packets with keys from the TLS exchange (which is why the run embeds them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lab.report.hosts import host_name
from lab.report.match import Matcher, Section, frames_text
from lab.report.packets import Message


def _of(conn: int) -> Any:
    return lambda x: x.quic is not None and x.quic.conn == conn and x.proto == "quic"


def narrate_quic(m: Matcher, f: Mapping[str, Any], after: int) -> tuple[Section, int | None]:
    """The QUIC handshake of the connection F opened; returns its udp.stream."""
    addr, host = str(f.get("address") or ""), str(f.get("host") or "")
    sec = Section(f"QUIC: handshake with {host} ({addr} UDP 443)")
    # A new connection begins with the Initial that carries a ClientHello for the
    # host (the client's later Initials only acknowledge).
    first = m.take(
        lambda x: x.proto == "tls"
        and x.kind == "client-hello"
        and x.src == m.client
        and x.dst == addr
        and x.quic is not None
        and (x.tls is None or not x.tls.sni or x.tls.sni == host),
        after,
    )
    if first is None or first.quic is None:
        sec.paragraphs.append("The capture holds no QUIC Initial packet for this connection.")
        return sec, None
    conn = first.quic.conn
    flight = [x for x in m.between(_of(conn), first.frame - 1, 10**9) if x.kind == "handshake"]
    server = [x for x in flight if x.src == addr]
    finished = next(
        (x for x in flight if x.src == m.client and x.quic and "Handshake" in x.quic.packets), None
    )
    sec.frames = [x.frame for x in flight]
    sec.paragraphs.append(
        f"There is no TCP here: the client sent its first QUIC packet, an Initial, to UDP "
        f"port 443 (frame {first.frame}). It carries the TLS ClientHello in a CRYPTO frame, "
        "and the datagram is padded to at least 1,200 bytes (RFC 9000 section 14.1), so that "
        "until the client has proved its address the server may send back at most three "
        "times what it received (section 8.1): a spoofed source cannot turn the server into "
        "an amplifier."
    )
    if server:
        kinds = list(dict.fromkeys(p for x in server if x.quic for p in x.quic.packets))
        early = (
            "; and already a 1-RTT packet with the server's HTTP/3 control stream and its "
            'SETTINGS, sent before the handshake has finished ("0.5-RTT" data)'
            if "1-RTT" in kinds
            else ""
        )
        sec.paragraphs.append(
            f"The edge answered in one flight ({frames_text([x.frame for x in server])}): "
            f"{', '.join(k for k in kinds if k != '1-RTT')} packets holding the ServerHello, "
            "then its EncryptedExtensions, certificate chain, CertificateVerify and Finished "
            "in CRYPTO frames: the same TLS 1.3 messages a TCP connection carries in TLS "
            f"records{early}."
        )
    zero_rtt = [x for x in flight if x.src == m.client and x.quic and "0-RTT" in x.quic.packets]
    if f.get("tls_resumed"):
        sec.paragraphs.append(
            "This is a resumption: the ClientHello offered a ticket from an earlier visit as a "
            "pre-shared key, so the edge sent no certificate this time"
            + (
                f", and the client did not wait for the handshake at all: its request went in "
                f"0-RTT packets ({frames_text([x.frame for x in zero_rtt])}) right behind the "
                "Initial, encrypted with keys derived from that ticket. Only safe requests may "
                "go this way, because an attacker can replay 0-RTT data (RFC 9001 section 9.2); "
                "the edge would answer anything else 425 Too Early (RFC 8470)."
                if zero_rtt
                else "."
            )
        )
    if finished is not None:
        ms = (finished.time - first.time) * 1000
        sec.paragraphs.append(
            f"With the client's Finished in a Handshake packet (frame {finished.frame}), "
            f"{ms:.1f} ms after its Initial, both sides have 1-RTT keys: one round trip set "
            "up the transport and TLS together, where TCP then TLS 1.3 take two. The client "
            f"measured {float(f.get('tls_ms') or 0):.1f} ms for the whole handshake."
        )
    sec.paragraphs.append(
        "Wireshark can read this only because the run's pcapng embeds the QUIC secrets the "
        "client logged: QUIC has no unencrypted record layer, and from the Handshake packets "
        "on every byte is protected."
    )
    return sec, conn


def narrate_h3(m: Matcher, f: Mapping[str, Any], conn: int | None) -> Section:
    """One request over HTTP/3: its QUIC stream, the response on the same stream."""
    url, sid = str(f["url"]), f.get("stream_id")
    sec = Section(f"HTTP/3: GET {url} on QUIC stream {sid}")
    if conn is None or sid is None:
        sec.paragraphs.append("The capture holds no QUIC connection this request can be tied to.")
        return sec

    def on_stream(x: Message) -> bool:
        return (
            x.quic is not None and x.quic.conn == conn and any(s == sid for s, _ in x.quic.streams)
        )

    frames = m.between(on_stream, 0, 10**9)
    sent = [x for x in frames if x.src == m.client]
    back = [x for x in frames if x.src != m.client]
    sec.frames = [x.frame for x in frames]
    fin = next((x for x in back if any(s == sid and fin for s, fin in x.quic.streams)), None)  # type: ignore[union-attr]
    sec.paragraphs.append(
        f"The request left as an HTTP/3 HEADERS frame on client-initiated bidirectional "
        f"stream {sid} ({frames_text([x.frame for x in sent])}); its fields are QPACK-"
        "compressed (RFC 9204), which this capture's tshark 4.0 names but does not decode "
        "(Wireshark 4.2 and later show them). The stream's own FIN ends the request: HTTP/3 "
        "has no END_STREAM flag of its own."
    )
    cache = str(f.get("cache") or "-")
    sec.paragraphs.append(
        f"{host_name(back[0].src) if back else 'The server'} answered {f.get('status')} "
        f"({cache}) on the same stream ({frames_text([x.frame for x in back])})"
        + (f", ending with FIN in frame {fin.frame}" if fin else "")
        + f"; time to first byte {float(f.get('ttfb_ms') or 0):.1f} ms. Each request is a "
        "stream of its own, and QUIC delivers each stream in order by itself: a lost packet "
        "holds up only the streams whose data it carried, not every request on the "
        "connection as a lost TCP segment does under HTTP/2."
    )
    return sec
