"""TLS contexts shared by the lab's HTTPS servers and the edge's upstream client.

Every context the lab creates goes through here so that two rules hold
everywhere: TLS 1.2 and 1.3 only (RFC 8996 deprecates 1.0 and 1.1), and
``SSLKEYLOGFILE`` honoured, so the capture can embed the secrets and
Wireshark decrypts the traffic (NSS key log format).

"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from pathlib import Path

# Servers offer HTTP/2 first, then HTTP/1.1 (RFC 7301: the client lists, the
# server picks); services/common/h2server.py serves whichever was chosen.
# The edge's upstream client (aiohttp) speaks HTTP/1.1 only, so it asks for that.
SERVER_ALPN = ["h2", "http/1.1"]
CLIENT_ALPN = ["http/1.1"]

# TLS 1.2 suites of Mozilla's "intermediate" server profile (v5.7): AEAD only,
# forward secret. Python's default string also enables CBC-SHA2 suites.
# TLS 1.3 suites are not set by this call and are all acceptable.
MOZILLA_INTERMEDIATE = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "DHE-RSA-AES128-GCM-SHA256",
        "DHE-RSA-AES256-GCM-SHA384",
        "DHE-RSA-CHACHA20-POLY1305",
    ]
)


def _common(ctx: ssl.SSLContext, env: Mapping[str, str], alpn: list[str]) -> ssl.SSLContext:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(alpn)
    keylog = env.get("SSLKEYLOGFILE")
    if keylog:
        ctx.keylog_filename = keylog
    return ctx


def server_context(cert: Path, key: Path, env: Mapping[str, str] | None = None) -> ssl.SSLContext:
    """A server context sending ``cert`` (leaf + intermediate chain) with ``key``."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.set_ciphers(MOZILLA_INTERMEDIATE)
    ctx.load_cert_chain(cert, key)
    return _common(ctx, os.environ if env is None else env, SERVER_ALPN)


def client_context(ca: Path, env: Mapping[str, str] | None = None) -> ssl.SSLContext:
    """A client context that trusts only ``ca`` and checks the server's name."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
    return _common(ctx, os.environ if env is None else env, CLIENT_ALPN)
