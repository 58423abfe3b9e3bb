"""``python -m services.api --cert C --key K --port 443 --db /data/api.sqlite3``

Environment (a flag of the same meaning wins): API_JWT_SECRET (else a secret
kept next to the db), API_ADMIN_TOKEN (enables POST /__fault), API_RATE_LIMIT
(requests per second per token, 0 = off), API_RATE_BURST, API_FAULT (initial
faults as JSON), API_FAULT_KILL_AFTER_COMMIT (1 arms the crash fault),
SSLKEYLOGFILE (TLS key log for the capture).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from services.api.app import make_app
from services.api.faults import FaultConfig
from services.api.state import MAX_BODY, ApiConfig
from services.api.store import UserStore, load_secret
from services.api.tokens import TokenConfig
from services.common.httpserver import run
from services.common.logs import setup
from services.common.tls import server_context


def _faults(parser: argparse.ArgumentParser, text: str | None) -> FaultConfig:
    if not text:
        return FaultConfig()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        parser.error(f"--fault: not JSON: {e}")
    if not isinstance(doc, dict):
        parser.error("--fault: expected a JSON object")
    config, errors = FaultConfig.from_json(doc)
    if errors:
        parser.error("--fault: " + "; ".join(f"{f}: {d}" for f, d in errors))
    return config


def main(argv: Sequence[str] | None = None) -> int:
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="python -m services.api", description="The lab's JSON API (JWT, SQLite)."
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
    parser.add_argument("--db", type=Path, required=True, help="SQLite file (created if absent)")
    parser.add_argument(
        "--admin-token",
        default=env.get("API_ADMIN_TOKEN") or None,
        help="bearer token for /__fault (default: $API_ADMIN_TOKEN; unset = off)",
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=float(env.get("API_RATE_LIMIT", 0)),
        help="requests per second per token, 0 = no limit ($API_RATE_LIMIT)",
    )
    parser.add_argument(
        "--rate-burst",
        type=int,
        default=int(env.get("API_RATE_BURST", 20)),
        help="requests allowed at once per token ($API_RATE_BURST)",
    )
    parser.add_argument(
        "--max-body",
        type=int,
        default=MAX_BODY,
        help="largest request body in bytes; larger gets 413",
    )
    parser.add_argument(
        "--fault",
        default=env.get("API_FAULT"),
        help="initial faults as JSON, e.g. '{\"error_rate\":0.3}' ($API_FAULT)",
    )
    parser.add_argument(
        "--fault-seed",
        type=int,
        default=None,
        help="seed for the fault draws, for reproducible runs",
    )
    parser.add_argument(
        "--fault-kill-after-commit",
        action="store_true",
        help="crash tests only: SIGKILL the API after a POST /api/users commits, before it "
        "replies ($API_FAULT_KILL_AFTER_COMMIT=1)",
    )
    args = parser.parse_args(argv)
    kill_env = env.get("API_FAULT_KILL_AFTER_COMMIT", "")
    if kill_env not in ("", "0", "1"):
        parser.error(f"API_FAULT_KILL_AFTER_COMMIT must be 0 or 1, not {kill_env!r}")
    if args.rate_limit < 0 or args.rate_burst < 1 or args.max_body < 1:
        parser.error("--rate-limit must be >= 0, --rate-burst and --max-body >= 1")
    config = ApiConfig(
        admin_token=args.admin_token,
        rate=args.rate_limit,
        burst=args.rate_burst,
        max_body=args.max_body,
        faults=_faults(parser, args.fault),
        seed=args.fault_seed,
        kill_after_commit=args.fault_kill_after_commit or kill_env == "1",
    )
    setup("api")
    try:
        ctx = server_context(args.cert, args.key)
        args.db.parent.mkdir(parents=True, exist_ok=True)
        store = UserStore.open(args.db)
        tokens = TokenConfig(secret=load_secret(args.db.parent, os.environ), clock=time.time)
    except (OSError, sqlite3.Error, ValueError) as e:
        parser.exit(1, f"python -m services.api: error: cannot start: {e}\n")
    run(
        make_app(store, tokens, config),
        host=args.host,
        port=args.port,
        ssl_context=ctx,
        service="api",
        h3=None if args.no_h3 else (args.cert, args.key),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
