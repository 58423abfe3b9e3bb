"""Renumber the zone files into the lab's own /24 as they are loaded.

The master files in services/zones are written in TEST-NET-2 (198.51.100.0/24,
RFC 5737), the documentation plan, so they stay readable and are the one
source of truth. A lab started beside another lives in a /24 of its own
(lab/topology.py) where every host keeps its last octet; compose.yaml hands
each DNS server that lab's first three octets as ``LAB_NET``, and the
loaders replace the documentation prefix with it before parsing. Only whole
addresses are rewritten: a prefix that is the tail of a longer number
(``1198.51.100.4``) or part of a name (``x.198.51.100.4.example``) is left alone.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

DOC_PREFIX = "198.51.100"
ENV = "LAB_NET"
_ADDRESS = re.compile(r"(?<![\w.-])198\.51\.100\.(?=\d{1,3}(?![\w-]|\.\w))")
_OCTET = r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_PREFIX = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}")


def check_prefix(prefix: str) -> str:
    """PREFIX ("198.19.7") if it is three octets; ValueError saying what was given."""
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(f"{ENV}={prefix!r}: give the lab's first three octets, like 198.19.7")
    return prefix


def from_env(environ: Mapping[str, str] = os.environ) -> str | None:
    """The lab's prefix from ``LAB_NET``; None when unset (the documentation plan)."""
    value = environ.get(ENV, "").strip()
    return check_prefix(value) if value else None


def renumber(text: str, prefix: str | None) -> str:
    """TEXT with every documentation address moved to PREFIX (unchanged for None)."""
    if prefix is None or prefix == DOC_PREFIX:
        return text
    return _ADDRESS.sub(check_prefix(prefix) + ".", text)
