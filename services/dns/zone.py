"""A zone's data and the checks a loaded master file must pass.

The zone's apex is the owner of its SOA record, which must be the file's
first record (RFC 1035 §5.2: "exactly one SOA RR ... at the top of the zone").
Every other record must be at or below the apex. Further checks, each
reported as ``file:line: reason``:

- a CNAME owner has no other data (RFC 1034 §3.6.2, RFC 2181 §10.1);
- below a delegation only glue (A/AAAA) may appear; anything else would be
  occluded, never served (RFC 1034 §4.2.1);
- a name server named inside this zone, at the apex or under a delegation,
  has an address here, or nobody could reach it (RFC 1034 §4.2.1 glue);
- no NS at a wildcard (RFC 4592 §4.2: its meaning is undefined).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dnslib import QTYPE, RR

from services.dnscore.masterfile import Entry, ZoneFileError, load_master
from services.dnscore.names import ancestors, is_subdomain, norm

ADDRESS_TYPES = (QTYPE.A, QTYPE.AAAA)


@dataclass
class Zone:
    """One zone: its apex, SOA and RRsets keyed by (normalised name, type)."""

    origin: str
    soa: RR
    rrsets: dict[tuple[str, int], list[RR]] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)  # owners plus empty non-terminals
    cuts: set[str] = field(default_factory=set)  # delegation points below the apex
    source: str = ""

    def get(self, name: str, qtype: int) -> list[RR]:
        """The RRset at ``name`` of type ``qtype`` (empty if none)."""
        return self.rrsets.get((name, qtype), [])

    def types_at(self, name: str) -> list[int]:
        """All record types present at ``name``."""
        return [t for (n, t) in self.rrsets if n == name]

    def negative_ttl(self) -> int:
        """TTL for negative answers: min(SOA TTL, SOA MINIMUM), RFC 2308 §3 and §5."""
        return int(min(self.soa.ttl, self.soa.rdata.times[4]))

    def find_cut(self, name: str) -> str | None:
        """The highest delegation point on the way from the apex down to ``name``."""
        for candidate in reversed(list(ancestors(name))):
            if candidate != self.origin and candidate in self.cuts:
                return candidate
        return None


def build_zone(entries: Iterable[Entry], path: str = "<zone>") -> Zone:
    """Check the records of one master file and index them as a Zone."""
    items = list(entries)
    if not items:
        raise ZoneFileError(path, 1, "no records: a zone needs an SOA")
    first = items[0]
    if first.rr.rtype != QTYPE.SOA:
        raise ZoneFileError(path, first.line, "the first record must be the zone's SOA")
    zone = Zone(origin=norm(first.rr.rname), soa=first.rr, source=path)
    owners_by_type: dict[tuple[str, int], int] = {}
    for entry in items:
        rr = entry.rr
        name = norm(rr.rname)
        if not is_subdomain(name, zone.origin):
            raise ZoneFileError(path, entry.line, f"{name} is outside the zone {zone.origin}")
        if rr.rtype == QTYPE.SOA and entry is not first:
            raise ZoneFileError(path, entry.line, "a zone has exactly one SOA (RFC 1035 §5.2)")
        rrset = zone.rrsets.setdefault((name, rr.rtype), [])
        if any(existing.rdata == rr.rdata for existing in rrset):
            continue  # duplicates collapse into one RRset member (RFC 2181 §5)
        if rrset and rrset[0].ttl != rr.ttl:
            # RFC 2181 §5.2: all TTLs in an RRset are equal; take the lowest.
            low = min(rrset[0].ttl, rr.ttl)
            for member in rrset:
                member.ttl = low
            rr.ttl = low
        rrset.append(rr)
        owners_by_type.setdefault((name, rr.rtype), entry.line)
    for (name, rtype), line in owners_by_type.items():
        # RFC 1034 §3.6.2 / RFC 2181 §10.1: a CNAME owner has no other data.
        if rtype == QTYPE.CNAME and (
            len(zone.get(name, QTYPE.CNAME)) > 1
            or any(t != QTYPE.CNAME for t in zone.types_at(name))
        ):
            raise ZoneFileError(path, line, f"{name} has a CNAME and other data")
        if rtype == QTYPE.NS and name != zone.origin:
            zone.cuts.add(name)
        for ancestor in ancestors(name):
            if not is_subdomain(ancestor, zone.origin):
                break
            zone.names.add(ancestor)
    if not zone.get(zone.origin, QTYPE.NS):
        raise ZoneFileError(path, first.line, f"the apex {zone.origin} has no NS records")
    _check_delegations(zone, owners_by_type, path)
    return zone


def _check_delegations(zone: Zone, lines: dict[tuple[str, int], int], path: str) -> None:
    """Occluded data, NS at wildcards and missing glue (see the module docstring)."""
    for (name, rtype), line in lines.items():
        cut = zone.find_cut(name)
        if cut is None:
            continue
        allowed = (QTYPE.NS, QTYPE.DS, *ADDRESS_TYPES) if name == cut else ADDRESS_TYPES
        if rtype not in allowed:
            raise ZoneFileError(
                path,
                line,
                f"{name} {QTYPE.get(rtype)} is below the "
                f"delegation {cut} and would never be served",
            )
    for (name, rtype), line in lines.items():
        if rtype != QTYPE.NS:
            continue
        if name.startswith("*."):
            raise ZoneFileError(path, line, f"NS at the wildcard {name} (RFC 4592 §4.2)")
        for rr in zone.get(name, QTYPE.NS):
            target = norm(rr.rdata.label)
            if not is_subdomain(target, zone.origin):
                continue
            # In-zone targets need an address here; for the apex this is the
            # zone's own data, under a delegation it is glue.
            if not any(zone.get(target, t) for t in ADDRESS_TYPES):
                raise ZoneFileError(
                    path,
                    line,
                    f"name server {target} of {name} is inside "
                    f"{zone.origin} but has no address (glue) in the zone",
                )


def load_zone(path: str | Path, net: str | None = None, extra: Path | None = None) -> Zone:
    """Load and check one master file (renumbered into the lab's NET, see load_master).

    EXTRA is a directory of ``<zone>.records`` files (a user's own services, added by
    lab/ownservice): the one named after this zone's apex is read as more records of
    the zone and checked with it, so the committed file stays as written."""
    entries = load_master(path, net)
    if extra is not None and entries:
        more = extra / (norm(entries[0].rr.rname).rstrip(".") + ".records")
        if more.is_file():
            entries += load_master(more, net, origin=norm(entries[0].rr.rname))
    return build_zone(entries, str(path))


class ZoneSet:
    """The zones one server holds; queries go to the deepest matching zone."""

    def __init__(self, zones: Iterable[Zone]) -> None:
        self.zones: dict[str, Zone] = {}
        for zone in zones:
            if zone.origin in self.zones:
                other = self.zones[zone.origin].source
                raise ZoneFileError(zone.source, 1, f"zone {zone.origin} also loaded from {other}")
            self.zones[zone.origin] = zone

    def find(self, qname: str) -> Zone | None:
        """The most specific zone containing ``qname`` (RFC 1034 §4.3.2 step 2)."""
        for candidate in ancestors(qname):
            if candidate in self.zones:
                return self.zones[candidate]
        return None
