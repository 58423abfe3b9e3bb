"""The per-query log of both DNS servers, cheap enough for the hot path.

Each answered query is one structured line (``dns_query`` or
``resolver_query``), which the lab's report reads. Formatting and writing a
JSON line costs more than answering from the wire cache, so at high rates
(a benchmark, a flood) the lines are rationed: at most ``per_second``
full lines in each one-second window; queries beyond that are only counted,
and about a second later one ``<event>_summary`` line says how many were
not logged one by one since the previous summary, and the questions asked
most (qname, qtype, rcode, count). Lab scenarios stay
far below the default of 100 lines a second, so there every query keeps its
line. ``per_second`` 0 keeps only the summaries.

Callers ask ``admit()`` before building a line's fields, so a suppressed
query costs one clock read and a counter increment.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Hashable
from typing import Any

from services.common.logs import log_event

QUERY_LOG_RATE = 100  # full lines per second before summarising
WINDOW = 1.0  # seconds
TOP = 10  # most-asked questions named in a summary line

Describe = Callable[[Hashable], tuple[str, str, str]]  # key -> (qname, qtype, rcode)


class QueryLog:
    """Full lines up to a rate, then one summary line per window."""

    def __init__(
        self,
        logger: logging.Logger,
        event: str,
        per_second: int = QUERY_LOG_RATE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.event = event
        self.per_second = per_second
        self.clock = clock
        self._window_end = 0.0
        self._written = 0
        self._suppressed: Counter[Hashable] = Counter()
        self._describe: dict[Hashable, tuple[str, str, str]] = {}
        self._flush_scheduled = False

    def admit(self, now: float) -> bool:
        """True if a full line may be written for a query at ``now`` (and count it)."""
        if now >= self._window_end:
            self.flush()
            self._window_end = now + WINDOW
            self._written = 0
        if self._written < self.per_second:
            self._written += 1
            return True
        return False

    def write(self, **fields: Any) -> None:
        """One full line (the caller has been admitted)."""
        log_event(self.logger, self.event, **fields)

    def force(self, now: float, **fields: Any) -> None:
        """A line that is always written (a lookup that went upstream), counted in the rate."""
        self.admit(now)
        log_event(self.logger, self.event, **fields)

    def skip(self, key: Hashable, qname: str, qtype: str, rcode: str) -> None:
        """Count a query that gets no line of its own; ``key`` groups identical questions."""
        self._suppressed[key] += 1
        if key not in self._describe:
            self._describe[key] = (qname, qtype, rcode)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop (a unit test): the next admit() or flush() writes it
            # If the traffic stops, the last window's summary still comes out.
            loop.call_later(WINDOW, self.flush)

    def flush(self) -> None:
        """Write the summary of queries not logged one by one, if any."""
        self._flush_scheduled = False
        if not self._suppressed:
            return
        total = sum(self._suppressed.values())
        top: dict[tuple[str, str, str], int] = {}
        for key, count in self._suppressed.items():
            described = self._describe[key]
            top[described] = top.get(described, 0) + count
        ranked = sorted(top.items(), key=lambda item: -item[1])[:TOP]
        log_event(
            self.logger,
            self.event + "_summary",
            not_logged=total,
            per_second_limit=self.per_second,
            top=[{"qname": q, "qtype": t, "rcode": r, "count": n} for (q, t, r), n in ranked],
        )
        self._suppressed.clear()
        self._describe.clear()
