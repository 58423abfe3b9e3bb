"""The API judged by schemathesis against its own OpenAPI 3.1 document.

schemathesis generates requests from ``/api/openapi.json`` (examples, coverage,
fuzzing and stateful phases, bounded by ``--max-examples``) and checks each
answer: no 5xx, the body matches the documented schema, the status and the
Content-Type are among those documented. It connects by the certificate's name
(``api-origin.example.com``, pinned to 127.0.0.1 by ``resolve_hook``) and
verifies the chain against the lab root.

The bearer token belongs to a plain user made for the run, not to the seeded
admin ``alice``, and ``DELETE /api/users/{username}`` is left out: schemathesis
learns the caller's name from ``GET /api/me`` and deletes it early (a user may
delete their own account), after which every request is a 401.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.peers import Tls, start_api
from harness.procs import LOOPBACK, ROOT
from tests.conformance.support import Procs

CHECKS = (
    "not_a_server_error",
    "response_schema_conformance",
    "status_code_conformance",
    "content_type_conformance",
)
MAX_EXAMPLES = 25
SEED = 20240501
NAME = "api-origin.example.com"
MAX_TIME = 60  # schemathesis's own budget for the whole run, seconds
RUN_TIMEOUT = 180.0


@dataclass
class Run:
    """One schemathesis run: its exit status, its console output and its event stream."""

    returncode: int
    output: str
    events: list[dict[str, Any]]


def _call(
    ctx: ssl.SSLContext, url: str, body: dict[str, Any], token: str | None = None
) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
        doc: dict[str, Any] = json.load(resp)
    return doc


def _fuzzer_token(base: str, ca: Path) -> str:
    """A bearer token for a new non-admin user, made by the seeded admin."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = False  # only for these set-up calls to 127.0.0.1; the run checks names
    admin = _call(ctx, f"{base}/api/login", {"username": "alice", "password": "wonderland"})
    _call(
        ctx,
        f"{base}/api/users",
        {"username": "fuzzer", "password": "fuzzer-password"},
        admin["access_token"],
    )
    login = _call(ctx, f"{base}/api/login", {"username": "fuzzer", "password": "fuzzer-password"})
    token: str = login["access_token"]
    return token


@pytest.fixture(scope="module")
def run(
    procs: Procs,
    tls_for: dict[str, Tls],
    tmp_path_factory: pytest.TempPathFactory,
    results_dir: Path,
) -> Run:
    """schemathesis run against the API, with its NDJSON event report kept in runs/."""
    work = tmp_path_factory.mktemp("schemathesis")
    api = procs.add(start_api(work, tls_for["api"]))
    token = _fuzzer_token(f"https://{LOOPBACK}:{api.port}", tls_for["api"].ca)
    report = results_dir / "schemathesis.ndjson"
    report.unlink(missing_ok=True)
    # The CLI from this interpreter's environment (the venv), not whatever is first on PATH.
    argv = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"https://{NAME}:{api.port}/api/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--tls-verify",
        str(tls_for["api"].ca),
        "-H",
        f"Authorization: Bearer {token}",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--request-timeout",
        "10",
        "--max-time",
        str(MAX_TIME),
        # The token's own user must outlive the run (see the module docstring).
        "--exclude-operation-id",
        "deleteUser",
        "--no-color",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
    ]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.conformance.resolve_hook",
        "WEBLAB_RESOLVE": f"{NAME}:{api.port}:{LOOPBACK}",
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    }
    # cwd: schemathesis keeps its example database in ./.schemathesis/, not in the checkout.
    out = subprocess.run(
        argv, capture_output=True, text=True, env=env, timeout=RUN_TIMEOUT, cwd=work, check=False
    )
    (results_dir / "schemathesis.txt").write_text(out.stdout + out.stderr)
    events = [json.loads(line) for line in report.read_text().splitlines() if line.strip()]
    summary = out.stdout[out.stdout.rfind("SUMMARY") :]
    print("\n" + summary)
    return Run(out.returncode, out.stdout + out.stderr, events)


def _statuses(events: list[dict[str, Any]]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for text in (json.dumps(e) for e in events):
        for piece in text.split('"status_code": ')[1:]:
            digits = piece[:3]
            if digits.isdigit():
                counts[int(digits)] = counts.get(int(digits), 0) + 1
    return counts


def test_schema_loaded_and_operations_tested(run: Run) -> None:
    """schemathesis loaded the OpenAPI document over verified TLS and tested its operations."""
    assert "Loaded specification" in run.output, run.output[-3000:]
    assert "Tested:" in run.output


def test_no_failures(run: Run) -> None:
    """No 5xx, and every answer matches the documented status codes, content type and schema."""
    assert run.returncode == 0, run.output[-6000:]


def test_token_stayed_valid(run: Run) -> None:
    """The run exercised authenticated operations (most answers are not 401)."""
    statuses = _statuses(run.events)
    assert statuses, "no responses in the event report"
    ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
    assert ok > statuses.get(401, 0) // 4, statuses
