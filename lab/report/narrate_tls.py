"""The TLS part of the story: a full handshake, the tickets it leaves, a resumed one.

A full TLS 1.3 handshake authenticates the server with its certificate chain
and a signature (RFC 8446 §4.4); afterwards the server may send tickets
(NewSessionTicket, §4.6.1). A later connection offers a ticket as a
pre-shared key; when the server accepts it, the certificate and its
verification are skipped, while a fresh (EC)DHE exchange still runs (§2.2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lab.report.match import Matcher, Section, frames_text
from lab.report.packets import Message
from lab.report.tls_fields import TlsInfo


def _full(ch: Message, ct: TlsInfo, sh: Message, st: TlsInfo, cert: Message | None) -> list[str]:
    version = st.versions[0] if st.versions else "TLS"
    group = st.groups[0] if st.groups else "an elliptic curve"
    out = [
        f"The ClientHello (frame {ch.frame}) names the site in the SNI extension "
        f"({ct.sni}), so that the edge, which serves many names on one address, can pick "
        f"the right certificate. It offers {' and '.join(ct.versions) or 'its versions'}, "
        f"ALPN {', '.join(ct.alpn) or '(none)'} and, already, a key share: a fresh "
        f"ephemeral {', '.join(ct.groups) or 'ECDHE'} public key.",
        f"The ServerHello (frame {sh.frame}) settles on {version} with {st.cipher} and "
        f"returns the edge's own ephemeral {group} public key. Each side combines its private "
        "key with the other's public key (ECDHE) and gets the same shared secret, which never "
        "crossed the wire; HKDF turns it into the handshake keys and later the traffic keys "
        "(RFC 8446, section 7.1). Older write-ups have the client encrypt a session key with "
        "the server's RSA public key; TLS 1.3 removed that key transport. The ephemeral keys "
        "are discarded after the handshake, so even a later theft of the edge's private key "
        "would not decrypt this traffic (forward secrecy).",
    ]
    if ct.psk_offered:
        out.insert(
            1,
            "The ClientHello also offered a ticket from an earlier session as a "
            "pre-shared key, but the ServerHello did not take it (no pre_shared_key "
            "in its extensions: the edge may have restarted and lost the keys that "
            "sealed its tickets), so this is a full handshake.",
        )
    if cert is not None and cert.tls is not None and cert.tls.certs:
        leaf, chain = cert.tls.certs[0], cert.tls.certs[1:]
        inter = "".join(f" and the intermediate {c.subject}, issued by {c.issuer}" for c in chain)
        out.append(
            "Everything after the ServerHello is encrypted, the certificate included; this "
            "report can show it only because the run's session secrets are embedded in the "
            f"capture. The edge sent its chain (frame {cert.frame}): the leaf {leaf.subject}, "
            f"valid for {', '.join(leaf.dns_names) or 'its subject'}, issued by "
            f"{leaf.issuer}{inter}. The client verified the chain up to the lab's root CA, "
            f"the only CA it trusts, and checked that {ct.sni} is among the leaf's names. "
            "With CertificateVerify the edge signs the handshake transcript with the leaf's "
            "private key, proving it holds that key."
        )
    return out


def _resumed(
    ch: Message, ct: TlsInfo, sh: Message, st: TlsInfo, host: str, earlier_ms: float | None
) -> list[str]:
    version = st.versions[0] if st.versions else "TLS"
    group = st.groups[0] if st.groups else "an elliptic curve"
    n = ct.psk_offered
    saved = (
        f" ({float(earlier_ms):.2f} ms for the full handshake with {host} earlier)"
        if earlier_ms
        else ""
    )
    return [
        f"The ClientHello (frame {ch.frame}) names {ct.sni} in SNI as before, but it also "
        f"carries a pre_shared_key extension with {n} identit{'y' if n == 1 else 'ies'}: "
        f"the ticket the edge gave it for {host} in the earlier session, sealed with a key "
        "only the edge knows, plus a binder, a MAC that proves the client holds the resumption "
        "secret derived from that session (RFC 8446, section 4.2.11). It still sends a "
        f"fresh ephemeral {', '.join(ct.groups) or 'ECDHE'} key share.",
        f"The ServerHello (frame {sh.frame}) accepted the ticket: its own pre_shared_key "
        f"extension selects that identity. It settles on {version} with {st.cipher} and "
        f"returns an ephemeral {group} key share too, so the keys come from both the "
        "pre-shared key and a new ECDHE exchange (psk_dhe_ke): a stolen ticket key would "
        "not open this connection's traffic, forward secrecy holds (RFC 8446, section 2.2).",
        "No Certificate and no CertificateVerify follow the ServerHello: the edge proved "
        "its identity with its certificate in the earlier handshake, and the pre-shared "
        "key ties this connection to that proof. The handshake skipped sending the chain, "
        "the client's verification of it and the edge's signature, the costliest parts of "
        f"a handshake{saved}. It still took one round trip.",
    ]


def _tickets(tk: Message, host: str) -> str:
    info = tk.tls
    n = info.tickets if info else 1
    each = "each " if n > 1 else ""
    life = f", {each}usable for {info.ticket_lifetime} s" if info and info.ticket_lifetime else ""
    what = "opaque tickets" if n > 1 else "an opaque ticket"
    return (
        f"Once it had the client's Finished, the edge sent {n} NewSessionTicket "
        f"message{'s' if n > 1 else ''} (frame {tk.frame}){life}: {what} from "
        "which both sides can derive a pre-shared key to resume this session later "
        "(RFC 8446, section 4.6.1). The client keeps the newest one for "
        f"{host}; a later visit can present it and skip the certificate."
    )


def narrate_tls(
    m: Matcher, f: Mapping[str, Any], stream: int, earlier_ms: float | None = None
) -> Section:
    """The handshake on STREAM for fetch F; EARLIER_MS, the full handshake's time, if any."""
    host = str(f.get("host"))
    ch = m.take(lambda x: x.kind == "client-hello" and x.stream == stream)
    sh = m.take(lambda x: x.kind == "server-hello" and x.stream == stream)
    resumed = sh is not None and sh.tls is not None and sh.tls.psk_accepted
    sec = Section(f"TLS: {'resumed ' if resumed else ''}handshake with {host}")
    cert = m.take(lambda x: x.kind == "certificate" and x.stream == stream)
    fins = [
        x
        for x in (m.take(lambda x: x.kind == "finished" and x.stream == stream) for _ in range(2))
        if x is not None
    ]
    tk = m.take(lambda x: x.kind == "new-session-ticket" and x.stream == stream)
    sec.frames = [x.frame for x in (ch, sh, cert, *fins, tk) if x is not None]
    if ch is None or ch.tls is None or sh is None or sh.tls is None:
        sec.paragraphs.append("The capture does not hold this handshake's hellos.")
        return sec
    if resumed:
        sec.paragraphs += _resumed(ch, ch.tls, sh, sh.tls, host, earlier_ms)
    else:
        sec.paragraphs += _full(ch, ch.tls, sh, sh.tls, cert)
    if fins:
        sec.paragraphs.append(
            f"The Finished messages ({frames_text([x.frame for x in fins])}) are MACs over the "
            "whole handshake: had anyone altered a hello on the way, they would not match. "
            f"The handshake took {float(f.get('tls_ms') or 0):.2f} ms as the client measured "
            f"it; ALPN settled on {', '.join(sh.tls.alpn) or f.get('alpn') or 'HTTP/1.1'}."
        )
    if tk is not None:
        sec.paragraphs.append(_tickets(tk, host))
    return sec
