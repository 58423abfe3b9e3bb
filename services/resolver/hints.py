"""Root hints: generate a named.root-style file from the root zone, and read one.

A resolver starts from a list of root servers it is configured with (RFC 1034
§5.3.2 "SBELT", RFC 8109 §2), published on the Internet as ``named.root``.
The lab derives its own from services/zones/root.zone so the two cannot
disagree:

    python -m services.resolver.hints services/zones/root.zone > services/zones/root.hints

The output is deterministic (no dates, servers in the zone's order) so an
image build reproduces it byte for byte. ``load_hints`` reads either file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dnslib import QTYPE

from services.dnscore import renumber
from services.dnscore.masterfile import Entry, ZoneFileError, load_master
from services.dnscore.names import ROOT, norm

HINTS_TTL = 3600000  # the TTL named.root has always used


@dataclass(frozen=True)
class RootServer:
    """One root server: its name and the addresses to reach it."""

    name: str
    addresses: tuple[str, ...]


def root_servers(entries: list[Entry], source: str = "<hints>") -> list[RootServer]:
    """The root's NS names and their A records, in file order."""
    names = [
        norm(e.rr.rdata.label)
        for e in entries
        if e.rr.rtype == QTYPE.NS and norm(e.rr.rname) == ROOT
    ]
    servers = []
    for name in dict.fromkeys(names):
        addresses = tuple(
            dict.fromkeys(
                str(e.rr.rdata)
                for e in entries
                if e.rr.rtype == QTYPE.A and norm(e.rr.rname) == name
            )
        )
        if addresses:
            servers.append(RootServer(name, addresses))
    if not servers:
        raise ZoneFileError(source, 0, "no root NS record with an address: not a hints file")
    return servers


def load_hints(path: str | Path, environ: Mapping[str, str] = os.environ) -> list[RootServer]:
    """Read root servers from a named.root-style file or from the root zone itself.

    The file is in the documentation plan; a lab in a /24 of its own gives its
    prefix as ``LAB_NET`` in ENVIRON and the addresses move there
    (services/dnscore/renumber.py), as the DNS servers' zones do."""
    try:
        net = renumber.from_env(environ)
    except ValueError as e:
        raise ZoneFileError(str(path), 0, str(e)) from e
    return root_servers(load_master(path, net), str(path))


def render(servers: list[RootServer], source: str) -> str:
    """named.root-format text for the given servers."""
    lines = [
        ";       This file holds the information on root name servers needed to",
        ";       initialize cache of Internet domain name servers",
        ';       (e.g. reference this file in the "cache  .  <file>"',
        ";       configuration file of BIND domain name servers).",
        ";",
        f";       weblab: generated from {source} by `python -m services.resolver.hints`;",
        ";       do not edit, regenerate.",
        ";",
    ]
    for server in servers:
        upper = server.name.upper()
        lines.append(f"{'.':<28}{HINTS_TTL:<10}NS    {upper}")
        for address in server.addresses:
            lines.append(f"{upper:<28}{HINTS_TTL:<10}A     {address}")
    lines.append("; End of file")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the hints generated from a root zone file; exit 1 on a bad file, 2 on usage."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        sys.stderr.write("usage: python -m services.resolver.hints ROOT_ZONE_FILE > root.hints\n")
        return 2
    try:
        servers = load_hints(args[0], environ={})  # always in the documentation plan
    except ZoneFileError as e:
        sys.stderr.write(f"hints: {e}\n")
        return 1
    sys.stdout.write(render(servers, args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
