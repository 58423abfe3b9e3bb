"""Where our DNS servers and the peers sit in a MiniInternet.

Our servers keep their lab addresses, read from the one address plan
(lab/topology.py); the peers get addresses of their own in the same
TEST-NET-2 range that the plan leaves free.
"""

from __future__ import annotations

import ipaddress

from lab.topology import BY_SERVICE, DEFAULT_PLAN, SUBNET

DNS_SERVICES = ("root-a", "root-b", "tld-a", "tld-b", "ns-example", "ns-cdn", "resolver")
LAB_DNS = {name: BY_SERVICE[name].ipv4 for name in DNS_SERVICES}
# The client as the DNS servers see it: from the home's public address, behind the NAT.
CLIENT_ADDRESS = DEFAULT_PLAN.public

_NET = ipaddress.ip_network(SUBNET)
NSD_ADDRESS = str(_NET[201])
UNBOUND_ADDRESS = str(_NET[202])
# One NSD per distinct zone set of ours, so that each NSD holds exactly the
# zones the server it is compared with holds (cross-zone CNAMEs, referrals
# and REFUSED all depend on that).
NSD_FOR = {
    "root-a": NSD_ADDRESS,
    "tld-a": str(_NET[203]),
    "ns-example": str(_NET[204]),
    "ns-cdn": str(_NET[205]),
}
ADDRESSES = (*LAB_DNS.values(), *NSD_FOR.values(), UNBOUND_ADDRESS, CLIENT_ADDRESS)
