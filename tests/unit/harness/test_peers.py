"""Caddy, the HTTP/3 peer, is configured to stay on loopback and serve the edge's HIT."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.peers import Asset, Tls, caddyfile

TLS = Tls(Path("/certs/edge.crt"), Path("/certs/edge.key"), Path("/certs/ca.crt"))
HIT = Asset(
    "/css/site.css",
    b"body{}\n",
    [
        ("Cache-Control", "public, max-age=3600"),
        ("ETag", '"d808de0d8e7c6c47d754"'),
        ("Connection", "close"),
        ("Content-Length", "7"),
        ("X-Cache", "HIT"),
    ],
)


def test_caddyfile_turns_off_everything_that_reaches_the_network(tmp_path: Path) -> None:
    """No admin endpoint, ACME, OCSP or trust install; bound to 127.0.0.1; h3 on."""
    text = caddyfile(tmp_path, 8443, TLS, HIT)
    for line in ("admin off", "auto_https off", "skip_install_trust", "ocsp_stapling off"):
        assert f"\n\t{line}\n" in text
    assert "\tbind 127.0.0.1\n" in text
    assert "protocols h1 h2 h3" in text
    assert f"tls {TLS.cert} {TLS.key}" in text


def test_caddyfile_copies_the_hit_fields_but_not_hop_by_hop_ones(tmp_path: Path) -> None:
    """The edge's fields are set after file_server's; Connection would break HTTP/2 and 3."""
    text = caddyfile(tmp_path, 8443, TLS, HIT)
    assert '\t\tETag `"d808de0d8e7c6c47d754"`\n' in text
    assert "\t\tX-Cache `HIT`\n" in text
    assert "Connection" not in text
    assert "Content-Length" not in text


@pytest.mark.skipif(shutil.which("caddy") is None, reason="caddy is not installed")
def test_caddy_adapts_it_with_no_acme_issuer_and_no_ocsp(tmp_path: Path) -> None:
    """caddy 2.6 accepts the file; the JSON it makes has no automation issuer, OCSP off."""
    conf = tmp_path / "Caddyfile"
    conf.write_text(caddyfile(tmp_path, 8443, TLS, HIT))
    out = subprocess.run(
        ["caddy", "adapt", "--adapter", "caddyfile", "--config", str(conf)],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    assert "not formatted" not in out.stderr
    config = json.loads(out.stdout)
    assert config["admin"] == {"disabled": True}
    tls = config["apps"]["tls"]
    assert tls["disable_ocsp_stapling"] is True
    assert all("issuers" not in p for p in tls["automation"]["policies"])
    server = config["apps"]["http"]["servers"]["srv0"]
    assert server["listen"] == ["127.0.0.1:8443"]
    assert server["automatic_https"] == {"disable": True}
