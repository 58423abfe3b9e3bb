"""``python -m services.linkdelay.ctl status|reload|extra MS``: talk to this host's daemon.

The orchestrator runs it with ``docker exec``: ``reload`` after writing a new
plan, ``extra MS`` for a delay fault (0 removes it), ``status`` to see what is
applied. Each waits until the daemon has acted (its status file says so) and
prints the status as JSON; exit 1 with one line on stderr if the daemon is not
running or refused the input.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

RUN_DIR = Path("/run/linkdelay")


class CtlError(Exception):
    pass


def read_status(run_dir: Path) -> dict[str, Any]:
    try:
        pid = int((run_dir / "pid").read_text())
        os.kill(pid, 0)
        doc: dict[str, Any] = json.loads((run_dir / "status.json").read_text())
    except (OSError, ValueError) as e:
        raise CtlError(f"the link delay daemon is not running here ({e})") from e
    if doc.get("pid") != pid:
        raise CtlError("the link delay daemon has not written its status yet")
    return doc


def signal_and_wait(run_dir: Path, timeout: float = 5.0) -> dict[str, Any]:
    """SIGHUP the daemon (by its own PID) and wait for a status newer than the signal."""
    before = read_status(run_dir)
    sent = time.time()
    os.kill(int(before["pid"]), signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = read_status(run_dir)
        if doc["time"] >= sent and (doc["digest"] != before["digest"] or doc["error"]):
            break
        if doc["time"] >= sent + 0.2:
            break  # the plan did not change: the newest status says so
        time.sleep(0.02)
    else:
        raise CtlError(f"the link delay daemon did not answer within {timeout:.0f} s")
    if doc["error"]:
        raise CtlError(f"the link delay daemon kept its old plan: {doc['error']}")
    return doc


def main(argv: list[str] | None = None, run_dir: Path = RUN_DIR) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        if args == ["status"]:
            doc = read_status(run_dir)
        elif args == ["reload"]:
            doc = signal_and_wait(run_dir)
        elif len(args) == 2 and args[0] == "extra":
            ms = float(args[1])
            if not 0 <= ms <= 10_000:
                raise CtlError(f"extra delay {ms:g} ms is outside 0..10000")
            (run_dir / "extra.json").write_text(json.dumps({"extra_ms": ms}))
            doc = signal_and_wait(run_dir)
        else:
            print("usage: python -m services.linkdelay.ctl status|reload|extra MS", file=sys.stderr)
            return 2
    except (CtlError, ValueError) as e:
        print(f"linkdelay: {e}", file=sys.stderr)
        return 1
    print(json.dumps(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
