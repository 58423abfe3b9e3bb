"""The authoritative server: wire bytes in, reply bytes out, one log line a query."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from dnslib import QTYPE, RCODE

from services.common.logs import log_event
from services.dns.answer import answer
from services.dns.listen import Address
from services.dns.names import norm
from services.dns.wire import finish, parse_query
from services.dns.zone import ZoneSet

logger = logging.getLogger(__name__)


class AuthoritativeServer:
    """Answers queries from a fixed set of zones; safe against any input bytes."""

    def __init__(self, zones: ZoneSet, name: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.zones = zones
        self.name = name
        self.clock = clock

    async def handle(self, wire: bytes, client: Address, proto: str) -> bytes | None:
        """The listener's handler (async only to fit the shared listener)."""
        return self.respond(wire, client, proto)

    def respond(self, wire: bytes, client: Address, proto: str) -> bytes | None:
        """Answer one query packet, or return None to drop it."""
        started = self.clock()
        parsed = parse_query(wire)
        if parsed.query is None:
            log_event(logger, "dns_bad_packet", client=client[0], proto=proto,
                      size=len(wire), reason=parsed.reason,
                      action="formerr" if parsed.error else "drop")
            return parsed.error
        query = parsed.query
        outcome = answer(self.zones, query)
        reply = outcome.reply
        data = finish(query, reply, proto)
        log_event(
            logger, "dns_query",
            server=self.name, client=client[0], proto=proto,
            qname=norm(query.q.qname), qtype=QTYPE.get(query.q.qtype),
            rcode=RCODE.get(reply.header.rcode), aa=bool(reply.header.aa),
            answers=len(reply.rr), referral=outcome.referral,
            delegated_to=outcome.delegated_to, zone=outcome.zone,
            truncated=bool(reply.header.tc), size=len(data),
            latency_ms=round((self.clock() - started) * 1000, 3),
        )
        return data
