"""Starting and stopping real programs for benchmarks and conformance tests.

Every process is started here and stopped by its own PID (never by name), and
readiness is a TCP connect polled with a deadline, never a sleep.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
PYTHON = sys.executable


class ProcError(Exception):
    """A program did not start or did not become ready."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    """A started program, its log file, and the port it should listen on."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    port: int | None = None
    argv: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tail(self, n: int = 20) -> str:
        """The last lines of the program's output, for error messages."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Poll until the port accepts a TCP connection; fail at once if the program exits."""
        if self.port is None:
            return
        deadline = time.monotonic() + timeout
        while True:
            if self.popen.poll() is not None:
                raise ProcError(
                    f"{self.name} exited with {self.popen.returncode} before "
                    f"listening on {self.port}:\n{self.tail()}"
                )
            try:
                with socket.create_connection((LOOPBACK, self.port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise ProcError(
                        f"{self.name} not listening on {self.port} after "
                        f"{timeout:.0f} s:\n{self.tail()}"
                    ) from None
                # Between connect attempts, wait on the other condition: the program exiting.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.popen.wait(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM this PID, then SIGKILL if it is still alive after ``timeout``."""
        if self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout)


def start(
    name: str,
    argv: Sequence[str],
    log: Path,
    *,
    port: int | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Proc:
    """Start ``argv`` (output to ``log``) and wait for ``port``; the caller stops it."""
    log.parent.mkdir(parents=True, exist_ok=True)
    # The lab's OpenSSL settings (key exchange groups), as in the image.
    full_env = {
        **os.environ,
        "OPENSSL_CONF": str(ROOT / "services" / "common" / "openssl.cnf"),
        **(env or {}),
    }
    with log.open("wb") as out:
        popen = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd or ROOT,
            env=full_env,
        )
    proc = Proc(name, popen, log, port, list(argv))
    try:
        proc.wait_ready()
    except BaseException:
        proc.stop()
        raise
    return proc
