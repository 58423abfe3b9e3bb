"""The authoritative server: wire bytes in, reply bytes out, one log line a query.

Replies are also kept in a wire-level answer cache: the key is the query's
bytes without its 2-byte ID plus the transport (the ID is the only field a
reply copies that differs between identical questions; flags, question case
and EDNS size are all in the key), the value the packed reply whose ID is
patched on the way out. An authoritative reply is a pure function of the
zones and those bytes, so the cache is exact; it is emptied when the zones
are replaced (SIGHUP) and when it reaches its size bound.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from dnslib import RCODE

from services.common.logs import log_event
from services.dns.answer import answer
from services.dns.listen import Address
from services.dns.names import norm
from services.dns.wire import OUR_EDNS_PAYLOAD, finish, parse_query, type_text
from services.dns.zone import ZoneSet

logger = logging.getLogger(__name__)

WIRE_CACHE_SIZE = 4096  # distinct (query bytes, transport) pairs remembered


class AuthoritativeServer:
    """Answers queries from a set of zones; safe against any input bytes."""

    def __init__(self, zones: ZoneSet, name: str,
                 clock: Callable[[], float] = time.monotonic,
                 edns_max: int = OUR_EDNS_PAYLOAD, wire_cache: bool = True) -> None:
        self.zones = zones
        self.name = name
        self.clock = clock
        self.edns_max = edns_max
        self.wire_cache = wire_cache
        self._replies: dict[tuple[str, bytes], tuple[bytes, dict[str, Any]]] = {}

    def replace_zones(self, zones: ZoneSet) -> None:
        """Serve a new set of zones (a reload); cached replies are forgotten."""
        self.zones = zones
        self._replies.clear()

    async def handle(self, wire: bytes, client: Address, proto: str) -> bytes | None:
        """The listener's handler (async only to fit the shared listener)."""
        return self.respond(wire, client, proto)

    def respond(self, wire: bytes, client: Address, proto: str) -> bytes | None:
        """Answer one query packet, or return None to drop it."""
        started = self.clock()
        key = (proto, bytes(wire[2:]))
        hit = self._replies.get(key) if self.wire_cache else None
        if hit is not None:
            data = bytes(wire[:2]) + hit[0][2:]
            log_event(logger, "dns_query", client=client[0], proto=proto, **hit[1],
                      wire_cache=True, latency_ms=round((self.clock() - started) * 1000, 3))
            return data
        parsed = parse_query(wire)
        if parsed.query is None:
            log_event(logger, "dns_bad_packet", client=client[0], proto=proto,
                      size=len(wire), reason=parsed.reason,
                      action="reply" if parsed.error else "drop")
            return parsed.error
        query = parsed.query
        outcome = answer(self.zones, query, self.name)
        reply = outcome.reply
        data = finish(query, reply, proto, self.edns_max)
        fields: dict[str, Any] = dict(
            server=self.name, qname=norm(query.q.qname), qtype=type_text(query.q.qtype),
            rcode=RCODE.get(reply.header.rcode), aa=bool(reply.header.aa),
            answers=len(reply.rr), referral=outcome.referral,
            delegated_to=outcome.delegated_to, zone=outcome.zone,
            truncated=bool(reply.header.tc), size=len(data),
        )
        if self.wire_cache:
            if len(self._replies) >= WIRE_CACHE_SIZE:
                self._replies.clear()
            self._replies[key] = (data, fields)
        log_event(logger, "dns_query", client=client[0], proto=proto, **fields,
                  wire_cache=False, latency_ms=round((self.clock() - started) * 1000, 3))
        return data
