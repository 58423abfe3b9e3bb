"""HTTP/1.0, 1.1 and 2 against the edge and the origins, with curl, nghttp and tshark."""

from __future__ import annotations

import re
import subprocess
import threading

from lab.capture.live import capture_live
from lab.compose import ROOT, Lab
from lab.topology import BY_SERVICE

from .test_https_curl import curl, headers

EDGE = BY_SERVICE["edge"].ipv4


def _version(lab: Lab, flag: str, url: str, *extra: str) -> tuple[str, str]:
    """(the HTTP version curl used, the response head) for one request from the client."""
    code, out, err = curl(lab, "--cacert", "/certs/ca.crt", flag, *extra, "-D", "-",
                          "-o", "/dev/null", "-w", "\n%{http_version}", url)  # fmt: skip
    assert code == 0, err
    head, _, version = out.rstrip().rpartition("\n")
    return version.strip(), head


def test_curl_http2_through_the_edge_with_the_same_cache(lab: Lab) -> None:
    """curl --http2 gets h2 from the edge, and the edge's cache answers h2 as it answers 1.1."""
    url = "https://static.example.com/css/site.css"
    version, _ = _version(lab, "--http2", url)
    assert version == "2"
    version, head = _version(lab, "--http2", url)
    h = headers(head)
    assert h["x-cache"] == "HIT"
    assert "cache-status" in h
    assert "via" in h


def test_every_https_server_offers_h2(lab: Lab) -> None:
    """The edge, both origins and the API each negotiate h2 with curl, from inside the lab."""
    servers = (
        ("edge", "www.example.com"),
        ("origin", "origin.example.com"),
        ("origin-2", "origin2.example.com"),
        ("api", "api-origin.example.com"),
    )
    for service, name in servers:
        address = BY_SERVICE[service].ipv4
        path = "/" if service == "edge" else "/healthz"
        version, head = _version(lab, "--http2", f"https://{name}{path}",
                                 "--resolve", f"{name}:443:{address}")  # fmt: skip
        assert version == "2", service
        assert head.startswith("HTTP/2 200"), (service, head)


def test_http10_gets_an_http10_answer_without_chunking(lab: Lab) -> None:
    """A 1.0 request is answered in 1.0: no chunked coding, and the connection closes after."""
    code, out, err = curl(lab, "--cacert", "/certs/ca.crt", "--http1.0", "-v", "-o", "/dev/null",
                          "https://www.example.com/")  # fmt: skip
    assert code == 0, err
    assert "< HTTP/1.0 200" in err
    assert "transfer-encoding" not in err.lower()
    assert "left intact" not in err  # curl did not keep it: the server closed (RFC 1945 §1.3)


def test_nghttp_shows_the_frames(lab: Lab) -> None:
    """nghttp in the client shows the h2 conversation: SETTINGS both ways, HEADERS, DATA, GOAWAY.

    (nghttp checks no certificate chain and says so; it is a frame viewer.)"""
    r = lab.exec("client", "nghttp", "-nv", "https://www.example.com/", timeout=60)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "recv SETTINGS frame" in out
    assert "send SETTINGS frame" in out
    assert re.search(r"recv \(stream_id=\d+\) :status: 200", out)
    assert "[SETTINGS_ENABLE_PUSH(0x02):0]" in out  # the edge announces no server push
    assert "recv DATA frame" in out
    assert "send GOAWAY frame" in out


def test_http2_is_decrypted_in_the_capture(lab: Lab) -> None:
    """A capture of curl --http2 decrypts with the embedded secrets: tshark reads the h2 HEADERS."""

    def request() -> None:
        lab.exec("client", "curl", "-sS", "--http2", "--cacert", "/certs/ca.crt", "-o", "/dev/null",
                 "https://www.example.com/")  # fmt: skip

    timer = threading.Timer(1.0, request)
    timer.start()
    folder = capture_live(lab, ROOT / "runs", seconds=4)
    timer.join()
    r = subprocess.run(
        ["tshark", "-r", str(folder / "capture.pcapng"), "-Y",
         f'http2.type == 1 && ip.dst == {EDGE} && http2.header.value == "/"',
         "-T", "fields", "-e", "http2.streamid"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.split(), "no decrypted HTTP/2 HEADERS for / in the capture"
