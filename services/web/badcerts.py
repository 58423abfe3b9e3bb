"""``python -m services.web.badcerts --dir /certs/bad``: the site behind broken certificates.

Like badssl.com for the lab: one port per kind of bad certificate, each serving
the same origin site, so a client can be pointed at a server whose certificate
is expired, not yet valid, for another name, self-signed, from an unknown CA,
or sent without its intermediate, and report the exact reason it refuses it.
The certificates come from ``lab.pki.ensure_bad_certs`` (all for
www.example.com; the wrong-host one for another name).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from services.common.httpserver import plain_listener, run
from services.common.logs import setup
from services.common.tls import server_context
from services.web.app import make_app
from services.web.content import SITE_DIR, load_site

# kind -> port; the order is the lab's documented plan (README, scenarios).
PORTS = {
    "expired": 8441,
    "not-yet-valid": 8442,
    "wrong-host": 8443,
    "self-signed": 8444,
    "unknown-ca": 8445,
    "missing-intermediate": 8446,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.web.badcerts",
        description="The origin site behind bad certificates.",
    )
    parser.add_argument("--dir", type=Path, required=True, help="folder with <kind>.crt/.key")
    parser.add_argument("--host", default="0.0.0.0")
    args = parser.parse_args(argv)
    setup("badcerts")
    try:
        contexts = {
            kind: server_context(args.dir / f"{kind}.crt", args.dir / f"{kind}.key")
            for kind in PORTS
        }
        site = load_site(SITE_DIR)
    except OSError as e:
        parser.exit(
            1,
            f"python -m services.web.badcerts: error: cannot start: {e} "
            "(make them with `python -m lab.pki certs --bad`)\n",
        )
    app = make_app(site)
    first, *rest = PORTS.items()
    for kind, port in rest:
        app.cleanup_ctx.append(
            plain_listener(
                make_app(site),
                host=args.host,
                port=port,
                service="badcerts",
                ssl_context=contexts[kind],
            )
        )
    run(app, host=args.host, port=first[1], ssl_context=contexts[first[0]], service="badcerts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
