"""The forwarder's front end: from the cache or from the upstream, one reply and one log line.

- A packet that is not a query we can answer never stops the server: no
  complete header, or QR=1 (a response: answering it could start a loop),
  is dropped; anything else malformed gets FORMERR, an unknown opcode
  NOTIMP (services/dnscore/wire.py decides, as for the other DNS servers).
  Each is one ``forwarder_bad_packet`` line saying what was wrong.
- A question in the cache (services/forwarder/cache.py) is answered at once
  ("hit"); any other goes to the upstream ("miss"). Identical questions
  that arrive while one is on its way upstream wait for that one instead of
  sending their own ("collapsed"): one upstream query, not one per asker,
  and fewer chances for a forged reply to match one (RFC 5452 §5).
- The reply is the asker's: its ID, RD and CD (RFC 1035 §4.1.1, RFC 4035
  §3.2.3), RA=1 (we offer recursion, through the upstream), AA=0, EDNS and
  UDP truncation per the asker's OPT (RFC 6891, RFC 7766 §5).
- No upstream known, a timeout or an unusable reply: SERVFAIL (RFC 1035
  §4.1.1 "server failure"), never a made-up NXDOMAIN.
- One ``forwarder_query`` line per question, with the layer's name; answers
  from the cache are rationed at high rates (services/dnscore/querylog.py),
  questions that went upstream always get their line.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from dnslib import CLASS, RCODE, DNSQuestion, DNSRecord

from services.common.logs import log_event
from services.dnscore.listen import Address
from services.dnscore.querylog import QUERY_LOG_RATE, QueryLog
from services.dnscore.wire import finish, parse_query, reply_to, type_text
from services.forwarder.cache import Answer, AnswerCache, Key, Verdict, fresh, relayed
from services.forwarder.transport import ForwardTransport, UpstreamError
from services.forwarder.upstream import Upstream

logger = logging.getLogger(__name__)


@dataclass
class Stats:
    """What the control socket's ``stats`` reports (upstream queries come from the transport)."""

    queries: int = 0  # questions answered (bad packets not included)
    hits: int = 0  # answered from the cache
    misses: int = 0  # not in the cache: asked upstream, or joined a question in flight
    collapsed: int = 0  # misses that joined an identical question already in flight
    servfail: int = 0  # answered SERVFAIL by us (no upstream, timeout, bad reply)
    bad_packets: int = 0  # dropped, FORMERR or NOTIMP


@dataclass(frozen=True)
class Forwarded:
    """What one trip upstream gave, shared by every asker collapsed onto it."""

    answer: Answer
    upstream: str | None  # the endpoint asked, None if there was none
    upstream_ms: float | None
    fields: dict[str, Any]  # for the log line: how it went, what the cache decided


def servfail() -> Answer:
    """Our own SERVFAIL, empty sections (never cached, see cache.py)."""
    return Answer(RCODE.SERVFAIL, [], [], 0)


class Forwarder:
    """Answers questions from ``cache`` (None: ``--no-cache``) or by asking ``upstream``."""

    def __init__(
        self,
        upstream: Upstream,
        transport: ForwardTransport,
        cache: AnswerCache | None,
        layer: str = "forwarder",
        clock: Callable[[], float] = time.monotonic,
        query_log_rate: int = QUERY_LOG_RATE,
    ) -> None:
        self.upstream = upstream
        self.transport = transport
        self.cache = cache
        self.layer = layer
        self.clock = clock
        self.stats = Stats()
        self.log = QueryLog(logger, "forwarder_query", query_log_rate, clock)
        self._inflight: dict[Key, asyncio.Task[Forwarded]] = {}

    async def handle(self, wire: bytes, client: Address, proto: str) -> bytes | None:
        """The listener's handler: one asker's packet in, reply bytes (or None: drop) out."""
        started = self.clock()
        parsed = parse_query(bytes(wire))
        if parsed.query is None:
            self.stats.bad_packets += 1
            log_event(
                logger,
                "forwarder_bad_packet",
                layer=self.layer,
                client=client[0],
                proto=proto,
                size=len(wire),
                reason=parsed.reason,
                action="reply" if parsed.error else "drop",
            )
            return parsed.error
        query = parsed.query
        key = Key.of(query)
        self.stats.queries += 1
        answer = self.cache.get(key) if self.cache is not None else None
        fields: dict[str, Any]
        if answer is not None:
            self.stats.hits += 1
            fields = {"cache": "hit", "held": answer.held}
        else:
            self.stats.misses += 1
            forwarded, collapsed = await self._forward(key, query.q)
            answer = forwarded.answer
            fields = {
                "cache": "collapsed" if collapsed else "miss",
                "upstream": forwarded.upstream,
                "upstream_ms": forwarded.upstream_ms,
                **forwarded.fields,
            }
        reply = reply_to(query, aa=False, ra=True)
        reply.header.rcode = answer.rcode
        for rr in answer.answer:
            reply.add_answer(rr)
        for rr in answer.authority:
            reply.add_auth(rr)
        data = finish(query, reply, proto)
        self._log(key, client, proto, reply, answer, started, fields)
        return data

    def flush(self, name: str | None = None) -> int:
        """Forget everything, or ``name`` and below (the control socket's ``flush``)."""
        return self.cache.flush(name) if self.cache is not None else 0

    def dump(self) -> list[dict[str, object]]:
        """The cache's entries (none with ``--no-cache``)."""
        return self.cache.dump() if self.cache is not None else []

    def counters(self) -> dict[str, object]:
        """Our counters and the transport's, for ``stats``."""
        current = self.upstream.current()
        return {
            **asdict(self.stats),
            "upstream_queries": self.transport.counters.queries,
            "cache_entries": len(self.cache) if self.cache is not None else None,
            "upstream": str(current) if current is not None else None,
            "upstream_detail": self.transport.counters.as_dict(),
        }

    async def _forward(self, key: Key, question: DNSQuestion) -> tuple[Forwarded, bool]:
        """The one trip upstream for ``key``: started here, or joined if already in flight."""
        task = self._inflight.get(key)
        collapsed = task is not None
        if collapsed:
            self.stats.collapsed += 1  # counted now, while it waits (stats shows it in flight)
        if task is None:
            task = asyncio.ensure_future(self._ask(key, question))
            self._inflight[key] = task
            task.add_done_callback(lambda _: self._inflight.pop(key, None))
        # Shielded: one asker giving up (its TCP connection closed) must not
        # cancel the trip the others are waiting for.
        return await asyncio.shield(task), collapsed

    async def _ask(self, key: Key, question: DNSQuestion) -> Forwarded:
        endpoint = self.upstream.current()
        if endpoint is None:
            self.stats.servfail += 1
            return Forwarded(servfail(), None, None, {"reason": self.upstream.missing})
        started = self.clock()
        try:
            exchange = await self.transport.ask(endpoint, question)
        except UpstreamError as e:
            self.stats.servfail += 1
            elapsed = round((self.clock() - started) * 1000, 3)
            return Forwarded(servfail(), str(endpoint), elapsed, {"reason": str(e)})
        elapsed = round((self.clock() - started) * 1000, 3)
        reply = exchange.reply
        fields: dict[str, Any] = {
            "upstream_proto": exchange.proto,
            "upstream_tries": exchange.tries,
            "upstream_rcode": RCODE.get(reply.header.rcode),
        }
        if self.cache is None:
            answer = relayed(reply)
            fields["cached_for"] = None
        else:
            ruling: Verdict = self.cache.put(key, reply)
            answer = fresh(reply, self.cache.max_ttl)
            fields["cached_for"] = ruling.ttl
            fields["cache_rule"] = ruling.why
        return Forwarded(answer, str(endpoint), elapsed, fields)

    def _log(
        self,
        key: Key,
        client: Address,
        proto: str,
        reply: DNSRecord,
        answer: Answer,
        started: float,
        fields: dict[str, Any],
    ) -> None:
        now = self.clock()
        rcode = str(RCODE.get(reply.header.rcode))
        qtype = type_text(key.qtype)
        if fields["cache"] == "hit" and not self.log.admit(now):
            self.log.skip(key, key.qname, qtype, rcode)
            return
        line = {
            "layer": self.layer,
            "client": client[0],
            "proto": proto,
            "qname": key.qname,
            "qtype": qtype,
            **({} if key.qclass == CLASS.IN else {"qclass": key.class_text()}),
            "rcode": rcode,
            "answers": len(reply.rr),
            "ttl": answer.ttl if answer.ttl else None,
            "truncated": bool(reply.header.tc),
            "duration_ms": round((now - started) * 1000, 3),
            **fields,
        }
        if fields["cache"] == "hit":
            self.log.write(**line)
        else:
            # A question that went upstream always gets its line: it is the
            # one the report narrates, and it cost far more than the line.
            self.log.force(now, **line)
