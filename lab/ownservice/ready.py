"""Bringing a user's own services up with the lab, and saying clearly when one does not.

An image must already be on this machine (no registry is reachable from the lab); a
build context is built before the lab starts, its failure shown with its last lines.
Once Compose has started everything, each service must accept a TCP connection on its
port from the client container, over the lab network as the edge and the browser will
reach it (its own health check, when weblab.yaml gives one, has already been waited for
by ``up --wait``). A service that exits, never listens or fails its check is one message:
the file and line that declared it, what Docker says, and its last log lines.
"""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

from lab.errors import LabError, UsageError
from lab.ownservice.spec import OwnFile, OwnService

if TYPE_CHECKING:
    from lab.compose import Lab

LOG_LINES = 12
# Run in the client (the lab image): connect until DEADLINE, exit 0 on the first success.
_PROBE = """
import socket, sys, time
host, port, deadline = sys.argv[1], int(sys.argv[2]), time.monotonic() + float(sys.argv[3])
while True:
    try:
        socket.create_connection((host, port), timeout=2).close()
        sys.exit(0)
    except OSError as e:
        if time.monotonic() > deadline:
            print(e, file=sys.stderr)
            sys.exit(1)
        time.sleep(0.3)
"""


def where(own: OwnFile, s: OwnService) -> str:
    return f"{own.path}:{s.line}"


def check_images(own: OwnFile) -> None:
    """Refuse an `image:` that is not on this machine, with its file:line."""
    for s in own.services:
        if not s.image:
            continue
        r = subprocess.run(
            ["docker", "image", "inspect", s.image], capture_output=True, text=True, check=False
        )
        if r.returncode != 0:
            raise UsageError(
                f"{where(own, s)}: image {s.image!r} is not on this machine (the lab pulls "
                "nothing: no registry is reachable); build it first, or give `build:` a "
                "directory with a Dockerfile (FROM weblab/lab:latest works)"
            )


def build(lab: Lab, own: OwnFile) -> None:
    """Build the services that have a build context; a failure names the file and line."""
    for s in own.services:
        if not s.build:
            continue
        r = lab.compose("build", s.service, check=False, capture=True)
        if r.returncode != 0:
            tail = "\n    ".join((r.stderr or r.stdout).strip().splitlines()[-LOG_LINES:])
            raise LabError(f"{where(own, s)}: building {s.name} from {s.build} failed:\n    {tail}")


def logs(lab: Lab, s: OwnService) -> str:
    r = lab.compose(
        "logs",
        "--no-color",
        "--no-log-prefix",
        "--tail",
        str(LOG_LINES),
        s.service,
        check=False,
        capture=True,
    )
    lines = (r.stdout or r.stderr or "").strip().splitlines()
    return "\n    ".join(lines) if lines else "(no output)"


def explain(lab: Lab, own: OwnFile) -> None:
    """Raise the user-facing error for the first of OWN's services that is not fine."""
    statuses = {st.name: st for st in lab.status()}
    for s in own.services:
        st = statuses.get(s.service)
        if st is None or not st.ok:
            state = st.condition if st else "absent"
            raise LabError(
                f"{where(own, s)}: {s.name} did not start ({state}); "
                f"its last log lines:\n    {logs(lab, s)}"
            )


def wait_listening(lab: Lab, own: OwnFile, timeout: float = 60) -> None:
    """Each service accepts TCP on its port from the client, else explain() or why not."""
    for s in own.services:
        address = lab.plan.address(s.service)
        r = lab.exec(
            "client",
            "python",
            "-c",
            _PROBE,
            address,
            str(s.port),
            str(timeout),
            timeout=timeout + 30,
        )
        if r.returncode != 0:
            explain(lab, own)
            raise LabError(
                f"{where(own, s)}: {s.name} runs but nothing accepts TCP on {address}:{s.port} "
                f"within {timeout:.0f} s ({r.stderr.strip()}); its last log lines:\n"
                f"    {logs(lab, s)}"
            )
