"""``python -m services.api --cert C --key K --port 443 --db /data/api.sqlite3``

Environment: API_JWT_SECRET (optional; else a secret kept next to the db),
SSLKEYLOGFILE (optional; TLS key log for the capture).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from services.api.app import make_app
from services.api.store import UserStore, load_secret
from services.api.tokens import TokenConfig
from services.common.logs import setup
from services.common.httpserver import run
from services.common.tls import server_context


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.api",
                                     description="The lab's JSON API (JWT, SQLite).")
    parser.add_argument("--cert", type=Path, required=True, help="leaf + intermediate, PEM")
    parser.add_argument("--key", type=Path, required=True, help="private key, PEM")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=443)
    parser.add_argument("--db", type=Path, required=True, help="SQLite file (created if absent)")
    args = parser.parse_args(argv)
    setup("api")
    try:
        ctx = server_context(args.cert, args.key)
        args.db.parent.mkdir(parents=True, exist_ok=True)
        store = UserStore.open(args.db)
        tokens = TokenConfig(secret=load_secret(args.db.parent, os.environ), clock=time.time)
    except (OSError, sqlite3.Error, ValueError) as e:
        parser.exit(1, f"python -m services.api: error: cannot start: {e}\n")
    run(make_app(store, tokens), host=args.host, port=args.port, ssl_context=ctx, service="api")
    return 0


if __name__ == "__main__":
    sys.exit(main())
