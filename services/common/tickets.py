"""The TLS session tickets an HTTP/3 server issued, kept so that clients can resume.

A returning client offers the ticket it was given (RFC 8446 §4.2.11); a
server that still holds the ticket's secret skips the certificate and its
signature (a PSK handshake, §2.2) and, if the ticket allows it, takes the
client's 0-RTT data (RFC 9001 §4.6). aioquic keeps no tickets itself: its
``QuicServer`` asks a handler to store each one it issues and a fetcher to
find one by its label. This is that store, in memory:

- bounded: at most ``capacity`` tickets, the least recently issued dropped
  first, so a client that reconnects forever cannot fill the memory;
- expiring: a ticket past its lifetime (``not_valid_after``, 86400 s in
  aioquic, the most RFC 8446 §4.6.1 allows) is never used again;
- single use: a ticket is removed when fetched. The client gets a new one on
  every connection, and a 0-RTT flight replayed by an attacker with the same
  ticket then finds nothing and gets a full handshake, without its early data
  (RFC 8446 §8.1). A server restart forgets every ticket: clients then do a
  full handshake, as they would after expiry.
"""

from __future__ import annotations

import datetime
from collections import OrderedDict
from collections.abc import Callable

from aioquic.tls import SessionTicket

CAPACITY = 10_000
Clock = Callable[[], datetime.datetime]


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class TicketStore:
    """Issued session tickets by label: bounded (LRU), expiring, each usable once."""

    def __init__(self, capacity: int = CAPACITY, now: Clock = utcnow) -> None:
        self.capacity, self.now = capacity, now
        self._tickets: OrderedDict[bytes, SessionTicket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tickets)

    def add(self, ticket: SessionTicket) -> None:
        """Keep TICKET (aioquic's session_ticket_handler), dropping the oldest beyond capacity."""
        self._tickets[ticket.ticket] = ticket
        self._tickets.move_to_end(ticket.ticket)
        now = self.now()
        while self._tickets and (
            len(self._tickets) > self.capacity
            or next(iter(self._tickets.values())).not_valid_after < now
        ):
            self._tickets.popitem(last=False)  # the oldest: over capacity, or expired

    def pop(self, label: bytes) -> SessionTicket | None:
        """The unexpired ticket called LABEL, removed (aioquic's session_ticket_fetcher)."""
        ticket = self._tickets.pop(label, None)
        if ticket is None:
            return None
        now = self.now()
        if not ticket.not_valid_before <= now <= ticket.not_valid_after:
            return None
        return ticket
