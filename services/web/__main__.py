"""``python -m services.web --cert C --key K --port 443 [--host 0.0.0.0] [--http-port 80]``

``--cert``/``--key`` may name a bad certificate from ``certs/bad/`` (``lab.pki
--bad``) for the TLS fault scenarios. Env: SSLKEYLOGFILE.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from services.common.httpserver import run
from services.common.logs import setup
from services.common.redirect import make_redirect_app
from services.common.tls import server_context
from services.web.app import make_app
from services.web.content import SITE_DIR, load_site


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.web", description="The lab's HTTPS origin web server."
    )
    parser.add_argument("--cert", type=Path, required=True, help="leaf + intermediate, PEM")
    parser.add_argument("--key", type=Path, required=True, help="private key, PEM")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=443)
    parser.add_argument(
        "--no-h3",
        action="store_true",
        help="TCP only: no HTTP/3 on UDP --port and no Alt-Svc (default: HTTP/3 on)",
    )
    parser.add_argument("--site", type=Path, default=SITE_DIR, help="site root (www/, static/)")
    parser.add_argument(
        "--http-port",
        type=int,
        default=None,
        help="also listen for plain HTTP here, answering 301 to https (default: off)",
    )
    args = parser.parse_args(argv)
    setup("web")
    try:
        ctx = server_context(args.cert, args.key)
        site = load_site(args.site)
    except OSError as e:  # ssl.SSLError is an OSError too
        parser.exit(1, f"python -m services.web: error: cannot start: {e}\n")
    plain = None if args.http_port is None else (make_redirect_app(), args.http_port)
    run(make_app(site), host=args.host, port=args.port, ssl_context=ctx, service="web", plain=plain,
        h3=None if args.no_h3 else (args.cert, args.key))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
