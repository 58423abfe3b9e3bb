"""HTTP/3 against the edge, both origins and the API, from the client container.

Bookworm's curl has no HTTP/3, so the client is the lab's own h3get (aioquic,
`lab h3`); Chromium's QUIC run is in the browser scenario.
"""

from __future__ import annotations

from lab.compose import Lab
from lab.topology import BY_SERVICE

from .test_https_curl import headers


def h3get(lab: Lab, *args: str) -> tuple[int, str, str]:
    r = lab.exec("client", "python", "-m", "services.client.h3get", "-m", "15", *args, timeout=40)
    return r.returncode, r.stdout, r.stderr


def test_every_https_server_answers_over_http3(lab: Lab) -> None:
    """The edge, both origins and the API each complete a QUIC handshake and answer HTTP/3."""
    servers = (
        ("edge", "www.example.com", "/"),
        ("origin", "origin.example.com", "/healthz"),
        ("origin-2", "origin2.example.com", "/healthz"),
        ("api", "api-origin.example.com", "/healthz"),
    )
    for service, name, path in servers:
        address = BY_SERVICE[service].ipv4
        code, out, err = h3get(lab, "-I", "--resolve", f"{name}:443:{address}",
                               f"https://{name}{path}")  # fmt: skip
        assert code == 0, (service, err)
        assert out.startswith("HTTP/3 200"), (service, out)


def test_edge_cache_answers_http3_as_it_answers_tcp(lab: Lab) -> None:
    """The same asset twice over HTTP/3: a HIT from the edge's one cache, with its headers."""
    url = "https://static.example.com/css/site.css"
    h3get(lab, "-I", url)
    code, out, err = h3get(lab, "-I", url)
    assert code == 0, err
    h = headers(out)
    assert h["x-cache"] == "HIT"
    assert h["via"].endswith("edge.edgecdn.net")
    assert "cache-status" in h


def test_tcp_answers_advertise_http3(lab: Lab) -> None:
    """An HTTPS answer over TCP names the edge's own UDP 443 in Alt-Svc, as browsers need."""
    r = lab.exec("client", "curl", "-sS", "--cacert", "/certs/ca.crt", "-I",
                 "https://www.example.com/", timeout=30)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert headers(r.stdout).get("alt-svc") == 'h3=":443"; ma=86400'


def test_api_json_over_http3(lab: Lab) -> None:
    """A JSON POST to the API through the edge over HTTP/3: a bad login is a 401 problem."""
    code, out, err = h3get(lab, "-i", "--data", '{"username": "nobody", "password": "wrong"}',
                           "https://api.example.com/api/login")  # fmt: skip
    assert code == 0, err
    assert out.startswith("HTTP/3 401"), out
    assert "application/problem+json" in out


def test_untrusted_name_is_a_tls_failure(lab: Lab) -> None:
    """A name the certificate does not cover fails the QUIC handshake as TLS: exit 60, as curl."""
    code, _out, err = h3get(lab, "-I", "--resolve", "wrong.example.net:443:198.51.100.80",
                            "https://wrong.example.net/")  # fmt: skip
    assert code == 60, err
    assert "certificate" in err.lower()
