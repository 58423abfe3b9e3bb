"""Authoritative DNS server: the same program serves the root, the TLDs and the zones.

Layout: ``masterfile`` parses RFC 1035 master files, ``zone`` holds a zone's
data, ``answer`` decides a reply (no I/O), ``wire`` holds packet-level helpers
shared with the resolver, ``server`` is the thin asyncio UDP/TCP layer.
"""
