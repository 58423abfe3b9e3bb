"""Which recursive server the forwarder asks: fixed on the command line, or read from a file.

``--upstream ADDR[:PORT]`` names it once. ``--upstream-file PATH`` reads it
from a resolv.conf-style file, the first ``nameserver ADDR`` line (resolv.conf(5)
syntax: an address, no port; ``--upstream-port`` gives the port). That is
how the home network hands it on: the client's DHCP lease hook writes the
DNS server the lease names (DHCP option 6, RFC 2132 §3.8) into the file,
as systemd-resolved takes its upstream from networkd's lease. The file is
looked at on every question (one ``stat``) and read again when its
modification time, size or inode changes (a hook that writes a temporary
file and renames it gives a new inode), so a new lease takes effect at
the next question, with no signal and no restart.

A missing file, or one without a usable ``nameserver`` line, means there is
no upstream yet: the forwarder answers SERVFAIL and says why.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from services.common.logs import log_event

logger = logging.getLogger(__name__)

DNS_PORT = 53
NO_LEASE = "no upstream DNS server yet (no DHCP lease?)"


@dataclass(frozen=True)
class Endpoint:
    """An upstream server's address and port."""

    host: str
    port: int = DNS_PORT

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_endpoint(text: str, default_port: int = DNS_PORT) -> Endpoint:
    """``198.18.0.1``, ``198.18.0.1:5353``, ``::1`` or ``[::1]:5353``; raises ValueError."""
    text = text.strip()
    host, port = text, default_port
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"not ADDR or [ADDR]:PORT: {text!r}")
        if rest:
            port = _port(rest[1:], text)
    elif text.count(":") == 1:
        host, _, rest = text.partition(":")
        port = _port(rest, text)
    try:
        address = ipaddress.ip_address(host)
    except ValueError as e:
        raise ValueError(f"not an IP address: {host!r}") from e
    return Endpoint(str(address), port)


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"not a port 1-65535 in {whole!r}")
    return int(text)


def first_nameserver(text: str, port: int = DNS_PORT) -> Endpoint | None:
    """The first ``nameserver ADDR`` line that names an IP address (resolv.conf(5)), or None.

    Comments (``#``, ``;``) and other keywords are skipped; a nameserver line
    with something other than an address is skipped too, as the C library's
    resolver does.
    """
    for line in text.splitlines():
        words = line.split()
        if len(words) < 2 or words[0] != "nameserver":
            continue
        try:
            address = ipaddress.ip_address(words[1])
        except ValueError:
            continue
        return Endpoint(str(address), port)
    return None


class Upstream(Protocol):
    """Where questions go now: an endpoint, or None with the reason there is none."""

    def current(self) -> Endpoint | None:
        """The upstream to ask for this question."""
        ...

    @property
    def missing(self) -> str:
        """Why ``current`` gave None (shown in the SERVFAIL's log line)."""
        ...

    def describe(self) -> str:
        """Where the upstream comes from, for the start-up log line."""
        ...


@dataclass
class FixedUpstream:
    """``--upstream``: one server for the life of the process."""

    endpoint: Endpoint
    missing: str = ""

    def current(self) -> Endpoint | None:
        """Always the configured server."""
        return self.endpoint

    def describe(self) -> str:
        """``--upstream 198.18.0.1:53``."""
        return f"--upstream {self.endpoint}"


Stamp = tuple[int, int, int]  # (mtime in ns, size, inode) of the file last read


class UpstreamFile:
    """``--upstream-file``: the first nameserver line, read again when the file changes."""

    def __init__(self, path: Path, port: int = DNS_PORT) -> None:
        self.path = path
        self.port = port
        self.missing = NO_LEASE
        self._stamp: Stamp | None = None
        self._endpoint: Endpoint | None = None
        self._warned: str | None = None  # the missing-upstream reason last logged
        self.reads = 0  # times the file was read (tests, and the stats command)

    def describe(self) -> str:
        """``--upstream-file /run/...``."""
        return f"--upstream-file {self.path}"

    def current(self) -> Endpoint | None:
        """The file's upstream, read again if its mtime (or size, or inode) changed."""
        try:
            st = os.stat(self.path)
        except OSError:
            self._change(None, None, f"{NO_LEASE}: {self.path} does not exist")
            return None
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp != self._stamp:
            try:
                text = self.path.read_text(errors="replace")
            except OSError as e:
                self._change(None, None, f"{NO_LEASE}: cannot read {self.path}: {e}")
                return None
            self.reads += 1
            endpoint = first_nameserver(text, self.port)
            self._change(stamp, endpoint, f"{NO_LEASE}: no nameserver line in {self.path}")
        return self._endpoint

    def _change(self, stamp: Stamp | None, endpoint: Endpoint | None, missing: str) -> None:
        """Take the new state; log when it changes, not on every question."""
        before = self._endpoint
        self._stamp, self._endpoint = stamp, endpoint
        if endpoint is None:
            self.missing = missing
            if self._warned != missing:
                self._warned = missing
                logger.warning(
                    NO_LEASE,
                    extra={
                        "event": "forwarder_no_upstream",
                        "file": str(self.path),
                        "reason": missing,
                    },
                )
            return
        self._warned = None
        if endpoint != before:
            log_event(
                logger,
                "forwarder_upstream",
                file=str(self.path),
                upstream=str(endpoint),
                previous=str(before) if before else None,
            )
