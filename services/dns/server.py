"""The authoritative server: wire bytes in, reply bytes out, one log line a query.

Replies are also kept packed in the shared wire cache
(services/dnscore/wirecache.py), keyed by the query's bytes without its ID
and the transport. An authoritative reply is a pure function of the zones
and those bytes, so the cache is exact and its entries have no age limit;
it is emptied when the zones are replaced (SIGHUP) and when it reaches its
size bound. The listener tries ``cached`` straight from
``datagram_received``, so a hit costs no task, no coroutine and no parsing;
the query log rations its lines at high rates (services/dnscore/querylog.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from dnslib import RCODE

from services.common.logs import log_event
from services.dns.answer import answer
from services.dns.zone import ZoneSet
from services.dnscore.listen import Address
from services.dnscore.names import norm
from services.dnscore.querylog import QUERY_LOG_RATE, QueryLog
from services.dnscore.wire import OUR_EDNS_PAYLOAD, finish, parse_query, type_text
from services.dnscore.wirecache import WireCache

logger = logging.getLogger(__name__)


class AuthoritativeServer:
    """Answers queries from a set of zones; safe against any input bytes."""

    def __init__(
        self,
        zones: ZoneSet,
        name: str,
        clock: Callable[[], float] = time.monotonic,
        edns_max: int = OUR_EDNS_PAYLOAD,
        wire_cache: bool = True,
        query_log_rate: int = QUERY_LOG_RATE,
    ) -> None:
        self.zones = zones
        self.name = name
        self.clock = clock
        self.edns_max = edns_max
        self.wire_cache = wire_cache
        self.log = QueryLog(logger, "dns_query", query_log_rate, clock)
        self._replies = WireCache()

    def replace_zones(self, zones: ZoneSet) -> None:
        """Serve a new set of zones (a reload); cached replies are forgotten."""
        self.zones = zones
        self._replies.clear()

    async def handle(self, wire: bytes, client: Address, proto: str) -> bytes | None:
        """The listener's handler (async only to fit the shared listener)."""
        return self.respond(wire, client, proto)

    def cached(self, wire: bytes, client: Address, proto: str) -> bytes | None:
        """The hot path: the packed reply to these exact query bytes, or None.

        No parsing: the key is every byte after the ID, so only a query
        identical to one answered before (flags, case, EDNS included) hits.
        """
        now = self.clock()
        hit = self._replies.get(wire, proto, now)
        if hit is None:
            return None
        fields = hit.fields
        if self.log.admit(now):
            self.log.write(
                client=client[0],
                proto=proto,
                **fields,
                wire_cache=True,
                latency_ms=round((self.clock() - now) * 1000, 3),
            )
        else:
            self.log.skip(hit, fields["qname"], fields["qtype"], fields["rcode"])
        return wire[:2] + hit.tail

    def respond(self, wire: bytes, client: Address, proto: str) -> bytes | None:
        """Answer one query packet, or return None to drop it."""
        wire = bytes(wire)  # callers may hand in a bytearray (dnslib's pack)
        if self.wire_cache:
            data = self.cached(wire, client, proto)
            if data is not None:
                return data
        started = self.clock()
        parsed = parse_query(wire)
        if parsed.query is None:
            log_event(
                logger,
                "dns_bad_packet",
                client=client[0],
                proto=proto,
                size=len(wire),
                reason=parsed.reason,
                action="reply" if parsed.error else "drop",
            )
            return parsed.error
        query = parsed.query
        outcome = answer(self.zones, query, self.name)
        reply = outcome.reply
        data = finish(query, reply, proto, self.edns_max)
        fields: dict[str, Any] = {
            "server": self.name,
            "qname": norm(query.q.qname),
            "qtype": type_text(query.q.qtype),
            "rcode": RCODE.get(reply.header.rcode),
            "aa": bool(reply.header.aa),
            "answers": len(reply.rr),
            "referral": outcome.referral,
            "delegated_to": outcome.delegated_to,
            "zone": outcome.zone,
            "truncated": bool(reply.header.tc),
            "size": len(data),
        }
        if self.wire_cache:
            self._replies.put(wire, proto, data, fields, started)
        if self.log.admit(started):
            self.log.write(
                client=client[0],
                proto=proto,
                **fields,
                wire_cache=False,
                latency_ms=round((self.clock() - started) * 1000, 3),
            )
        else:
            self.log.skip(
                (fields["qname"], fields["qtype"], fields["rcode"]),
                fields["qname"],
                fields["qtype"],
                fields["rcode"],
            )
        return data
