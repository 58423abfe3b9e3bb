"""TLS handshake messages from tshark's tls.* fields.

In TLS 1.3 everything after the ServerHello is encrypted with handshake keys
(RFC 8446 section 2), so the Certificate message is readable only because the
capture carries the session secrets; tshark decrypts it and hands over the
DER certificates, which `cryptography` parses here.

Session resumption (RFC 8446 §2.2) shows in three places: the server's
NewSessionTicket after a full handshake, a later ClientHello offering that
ticket in its pre_shared_key extension, and a ServerHello whose own
pre_shared_key extension selects it (and then no Certificate follows).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.x509.oid import NameOID

Row = Mapping[str, Sequence[str]]

KINDS = {
    1: "client-hello",
    2: "server-hello",
    4: "new-session-ticket",
    11: "certificate",
    20: "finished",
}

VERSIONS = {0x0304: "TLS 1.3", 0x0303: "TLS 1.2", 0x0302: "TLS 1.1", 0x0301: "TLS 1.0"}

# IANA TLS Cipher Suites registry: the ones the lab's OpenSSL offers first.
CIPHERS = {
    0x1301: "TLS_AES_128_GCM_SHA256",
    0x1302: "TLS_AES_256_GCM_SHA384",
    0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
}

# IANA TLS Supported Groups registry.
GROUPS = {
    23: "secp256r1",
    24: "secp384r1",
    25: "secp521r1",
    29: "x25519",
    30: "x448",
    0x11EC: "X25519MLKEM768",
}


@dataclass(frozen=True)
class CertInfo:
    subject: str
    issuer: str
    dns_names: tuple[str, ...] = ()
    not_after: str = ""


@dataclass
class TlsInfo:
    kind: str
    sni: str = ""
    alpn: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)  # offered (ClientHello) or chosen
    cipher: str = ""
    groups: list[str] = field(default_factory=list)  # key_share groups
    certs: list[CertInfo] = field(default_factory=list)
    psk_offered: int = 0  # ClientHello: identities (tickets) in its pre_shared_key extension
    psk_accepted: bool = False  # ServerHello: its pre_shared_key selects one of them
    tickets: int = 0  # NewSessionTicket messages in the frame
    ticket_lifetime: int = 0  # seconds the (first) ticket may be used

    def label(self) -> str:
        if self.kind == "client-hello":
            alpn = f" ALPN {','.join(self.alpn)}" if self.alpn else ""
            psk = " + PSK (resume)" if self.psk_offered else ""
            return f"ClientHello SNI {self.sni or '(none)'}{alpn}{psk}"
        if self.kind == "server-hello":
            group = f" {self.groups[0]}" if self.groups else ""
            psk = " · PSK accepted" if self.psk_accepted else ""
            return (
                f"ServerHello {self.versions[0] if self.versions else ''} {self.cipher}{group}{psk}"
            )
        if self.kind == "new-session-ticket":
            n = f" ×{self.tickets}" if self.tickets > 1 else ""
            life = f" (lifetime {self.ticket_lifetime} s)" if self.ticket_lifetime else ""
            return f"NewSessionTicket{n}{life}"
        if self.kind == "certificate":
            chain = " ← ".join(c.subject for c in self.certs)
            return f"Certificate {chain}" if chain else "Certificate"
        return "Finished"


def _num(value: str) -> int:
    try:
        return int(value, 0)
    except ValueError:
        return -1


def _cn(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else name.rfc4514_string()


def cert_info(der_hex: str) -> CertInfo:
    """Subject, issuer and DNS names of one DER certificate given as hex."""
    try:
        cert = x509.load_der_x509_certificate(bytes.fromhex(der_hex.replace(":", "")))
    except ValueError:
        return CertInfo("(unreadable certificate)", "")
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = tuple(san.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = ()
    return CertInfo(
        _cn(cert.subject), _cn(cert.issuer), names, cert.not_valid_after_utc.strftime("%Y-%m-%d")
    )


def tls_infos(row: Row) -> list[TlsInfo]:
    """The handshake messages of one frame worth a diagram arrow, in order."""
    out: list[TlsInfo] = []
    codes = [_num(c) for c in row.get("tls.handshake.type") or []]
    for code in codes:
        kind = KINDS.get(code)
        if kind is None or any(t.kind == kind for t in out):
            continue
        info = TlsInfo(kind)
        versions = [
            VERSIONS.get(_num(v), v)
            for v in row.get("tls.handshake.extensions.supported_version") or []
        ]
        groups = [
            GROUPS.get(_num(g), g)
            for g in row.get("tls.handshake.extensions_key_share_group") or []
        ]
        suites = row.get("tls.handshake.ciphersuite") or []
        if kind == "client-hello":
            info.sni = next(iter(row.get("tls.handshake.extensions_server_name") or []), "")
            info.alpn = list(row.get("tls.handshake.extensions_alpn_str") or [])
            info.versions, info.groups = versions, groups
            info.cipher = f"{len(suites)} cipher suites offered"
            info.psk_offered = len(row.get("tls.handshake.extensions.psk.identity.identity") or [])
        elif kind == "server-hello":
            # TLS 1.3 keeps 1.2 in legacy_version; the real one is in supported_versions
            # (RFC 8446 section 4.1.3).
            info.versions = versions or ["TLS 1.2 or older"]
            info.groups = groups
            info.alpn = list(row.get("tls.handshake.extensions_alpn_str") or [])
            info.cipher = CIPHERS.get(_num(suites[0]), suites[0]) if suites else ""
            # RFC 8446 §4.2.11: the server's pre_shared_key carries only selected_identity.
            info.psk_accepted = bool(row.get("tls.handshake.extensions.psk.identity.selected"))
        elif kind == "new-session-ticket":
            info.tickets = codes.count(4)
            lifetimes = row.get("tls.handshake.session_ticket_lifetime_hint") or []
            info.ticket_lifetime = max(_num(lifetimes[0]), 0) if lifetimes else 0
        elif kind == "certificate":
            info.certs = [cert_info(h) for h in row.get("tls.handshake.certificate") or []]
        out.append(info)
    return out
