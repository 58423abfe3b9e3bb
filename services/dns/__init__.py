"""Authoritative DNS server: the same program serves the root, the TLDs and the zones.

Layout: ``zone`` holds a zone's data and its checks, ``answer`` decides a
reply (no I/O), ``server`` is the thin layer from query bytes to reply bytes,
``probe`` sends one real query and exits 0 or 1. What the resolver shares
(master files, packet rules, listeners, the query log, the wire cache,
start-up) is in services/dnscore.
"""
