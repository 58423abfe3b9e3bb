"""The browser's stub resolver: one recursive question to the server in resolv.conf.

A stub resolver does no iteration itself (RFC 1034 §5.3.1): it sends the whole
question with recursion desired to one recursive resolver (the lab's) and
takes the answer, CNAME chain included, as that server gives it. Like a
browser's, the client keeps the answers it got (for a visit: a reload asks again).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from dnslib import QTYPE, RCODE, DNSRecord

from services.client.timeline import DnsResult

RESOLV_CONF = "/etc/resolv.conf"


def nameserver(resolv_conf: str = RESOLV_CONF) -> str:
    for line in Path(resolv_conf).read_text().splitlines():
        words = line.split()
        if words[:1] == ["nameserver"] and len(words) > 1:
            return words[1]
    raise RuntimeError(f"no nameserver in {resolv_conf}")


def resolve(name: str, server: str, timeout: float = 5.0, port: int = 53) -> DnsResult:
    """One recursive query for NAME's A record, as a stub resolver sends it."""
    query = DNSRecord.question(name, "A")
    started = time.time()
    t0 = time.perf_counter()
    reply = DNSRecord.parse(query.send(server, port, timeout=timeout))
    ms = (time.perf_counter() - t0) * 1000
    chain = [f"{rr.rname} CNAME {rr.rdata}" for rr in reply.rr if rr.rtype == QTYPE.CNAME]
    addrs = [str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A]
    return DnsResult(name, server, started, round(ms, 3), RCODE[reply.header.rcode], chain, addrs)


class Stub:
    """The client's DNS: its own cache of answers in front of one recursive server.

    Every question asked is appended to ASKED (the timeline's list); SAY reports
    the query and the answer as events.
    """

    def __init__(
        self, server: str, port: int, asked: list[DnsResult], say: Callable[..., None]
    ) -> None:
        self.server, self.port, self.asked, self.say = server, port, asked, say
        self.cache: dict[str, DnsResult] = {}
        self._lock = threading.Lock()  # one question per name, however many connections want it

    def forget(self) -> None:
        self.cache.clear()

    def lookup(self, host: str, visit: int) -> DnsResult:
        """HOST's addresses: from the cache (0 ms), else from the server; raises if none."""
        with self._lock:
            hit = self.cache.get(host)
            if hit is not None:
                return DnsResult(
                    host, hit.server, time.time(), 0.0, hit.rcode, hit.chain, hit.addresses, True
                )
            self.say("dns.query", name=host, server=self.server)
            res = resolve(host, self.server, port=self.port)
            res.visit = visit
            self.asked.append(res)
            self.say(
                "dns.answer",
                name=host,
                rcode=res.rcode,
                ms=res.ms,
                chain=res.chain,
                addresses=res.addresses,
            )
            if res.rcode != "NOERROR" or not res.addresses:
                raise RuntimeError(f"DNS lookup of {host} failed: {res.rcode}, no address")
            self.cache[host] = res
            return res
