"""DNS shared by the lab's servers: ``names`` (domain name helpers), ``wire``
(packet-level rules: parsing a query, EDNS, truncation), ``masterfile`` (RFC
1035 master files), ``listen`` (UDP and TCP listeners), ``querylog`` (the
rate-limited JSON query log), ``wirecache`` (packed replies to repeated
queries), ``program`` (load, serve, exit status).
"""
