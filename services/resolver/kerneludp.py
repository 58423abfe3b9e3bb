"""The kernel's UDP counters for this network namespace (Linux /proc/net/snmp).

Forged answers sent to a port no socket has open never reach the resolver's
code: the kernel counts them in NoPorts. Datagrams dropped because a
socket's receive buffer was full count in RcvbufErrors. Inside the
resolver's container the namespace is the resolver's own, so these say what
a flood did below the counters of services/resolver/replies.py.
"""

from __future__ import annotations

from pathlib import Path

SNMP = Path("/proc/net/snmp")
FIELDS = {"NoPorts": "no_ports", "RcvbufErrors": "rcvbuf_errors", "InErrors": "in_errors"}


def parse_snmp(text: str) -> dict[str, int]:
    """The Udp: header and value lines of /proc/net/snmp, as the fields of ``FIELDS``."""
    rows = [line.split() for line in text.splitlines() if line.startswith("Udp:")]
    if len(rows) < 2:
        return {}
    values = dict(zip(rows[0][1:], rows[1][1:], strict=False))
    return {ours: int(values[theirs]) for theirs, ours in FIELDS.items() if theirs in values}


def read_udp_counters(path: Path = SNMP) -> dict[str, int] | None:
    """The counters now, or None where there is no /proc/net/snmp (not Linux)."""
    try:
        return parse_snmp(path.read_text())
    except OSError:
        return None
