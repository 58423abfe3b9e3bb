"""Message extraction from the sample capture through tshark."""

import shutil

import pytest

from lab.report.packets import Message, messages_from_rows, read_messages

from .conftest import SAMPLE, needs_tshark


@pytest.fixture(scope="module")
def messages() -> list[Message]:
    """The sample capture's messages (tshark runs once for the module)."""
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed (Debian package tshark)")
    return read_messages(SAMPLE / "capture.pcapng")


@needs_tshark
def test_counts_per_protocol(messages: list[Message]) -> None:
    """The cold browse run has 24 DNS messages, 10 TCP control arrows, 12 TLS (the tickets
    included) and 8 HTTP."""
    counts: dict[str, int] = {}
    for m in messages:
        counts[m.proto] = counts.get(m.proto, 0) + 1
    assert counts == {"dns": 24, "tcp": 10, "tls": 12, "http": 8}


@needs_tshark
def test_capture_order(messages: list[Message]) -> None:
    """Messages come in frame order, DNS first, then SYN, ClientHello, GET."""
    frames = [m.frame for m in messages]
    assert frames == sorted(frames)
    kinds = [m.kind for m in messages]
    assert kinds.index("syn") < kinds.index("client-hello") < kinds.index("request")
    assert messages[0].label == "DNS ? www.example.com A"


@needs_tshark
def test_dns_referrals_and_glue(messages: list[Message]) -> None:
    """Root and TLD replies are referrals; the edgecdn.net one carries no glue."""
    refs = [m.dns for m in messages if m.dns is not None and m.dns.referral]
    zones = [(r.referral_zone, bool(r.glue)) for r in refs]
    assert zones[:2] == [("com.", True), ("example.com.", True)]
    assert ("edgecdn.net.", False) in zones
    answers = [m.dns for m in messages if m.dns and m.dns.aa and m.dns.answers]
    assert answers[0].answers[0].type == "CNAME"


@needs_tshark
def test_tls_handshake_decrypted(messages: list[Message]) -> None:
    """SNI, TLS 1.3, the cipher and the (encrypted, here decrypted) chain are read."""
    hellos = [m.tls for m in messages if m.kind == "client-hello" and m.tls]
    assert [h.sni for h in hellos] == ["www.example.com", "static.example.com"]
    sh = next(m.tls for m in messages if m.kind == "server-hello" and m.tls)
    assert sh.versions == ["TLS 1.3"]
    assert sh.cipher == "TLS_AES_256_GCM_SHA384"
    cert = next(m.tls for m in messages if m.kind == "certificate" and m.tls)
    assert [c.subject for c in cert.certs] == ["www.example.com", "weblab Issuing CA 1"]
    assert cert.certs[1].issuer == "weblab Root CA"


@needs_tshark
def test_http_requests_and_cache(messages: list[Message]) -> None:
    """Four GETs, each answered 200 with X-Cache HIT, paired by request frame."""
    reqs = [m for m in messages if m.kind == "request"]
    assert [m.http.uri for m in reqs if m.http] == [
        "/",
        "/css/site.css",
        "/js/app.js",
        "/img/logo.svg",
    ]
    resps = [m for m in messages if m.kind == "response" and m.proto == "http"]
    assert [m.label for m in resps] == ["200 OK · X-Cache HIT"] * 4
    assert [m.http.request_in for m in resps if m.http] == [m.frame for m in reqs]


def test_rows_without_ip_are_skipped() -> None:
    """ARP frames (no IP) give no message; a lone SYN gives one."""
    rows = [
        {"frame.number": ["1"]},
        {
            "frame.number": ["2"],
            "frame.time_epoch": ["1.5"],
            "ip.src": ["10.0.0.1"],
            "ip.dst": ["10.0.0.2"],
            "tcp.stream": ["0"],
            "tcp.flags.syn": ["1"],
            "tcp.flags.ack": ["0"],
        },
    ]
    msgs = messages_from_rows(rows)
    assert [(m.frame, m.label) for m in msgs] == [(2, "SYN")]


def test_sealed_tls_data_on_connections_older_than_the_capture() -> None:
    """TLS records on a stream whose handshake was not captured become one 'sealed' arrow
    per burst; records on a stream whose ClientHello was seen do not."""
    from lab.report.packets import messages_from_rows

    def row(frame: int, stream: int, src: str, dst: str, **extra: list[str]) -> dict:
        base = {
            "frame.number": [str(frame)],
            "frame.time_epoch": ["1.0"],
            "ip.src": [src],
            "ip.dst": [dst],
            "tcp.stream": [str(stream)],
            "tcp.flags.ack": ["1"],
        }
        return base | extra

    rows = [
        row(1, 7, "a", "b", **{"tls.app_data": ["00"]}),
        row(2, 7, "a", "b", **{"tls.app_data": ["00"]}),
        row(3, 7, "b", "a", **{"tls.app_data": ["00"]}),
        row(4, 8, "a", "c", **{"tls.handshake.type": ["1"]}),
        row(5, 8, "a", "c", **{"tls.app_data": ["00"]}),
    ]
    sealed = [m.frame for m in messages_from_rows(rows) if m.kind == "encrypted"]
    assert sealed == [1, 3]
