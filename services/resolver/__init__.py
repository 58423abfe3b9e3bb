"""Caching recursive resolver: ``iterate`` walks the delegations (RFC 1034 §5.3.3),
``cache`` remembers answers, ``transport`` talks to authorities over UDP/TCP,
``server`` answers clients, ``hints`` reads and generates the root hints.
What it shares with the authoritative server is in services/dnscore.
"""
