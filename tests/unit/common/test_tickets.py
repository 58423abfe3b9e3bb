"""The HTTP/3 server's session ticket store: bounded, expiring, each ticket used once."""

from __future__ import annotations

import datetime

from aioquic.tls import CipherSuite, SessionTicket

from services.common.tickets import TicketStore

T0 = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)


def ticket(label: bytes, issued: datetime.datetime = T0) -> SessionTicket:
    return SessionTicket(
        age_add=0,
        cipher_suite=CipherSuite.AES_128_GCM_SHA256,
        not_valid_after=issued + DAY,
        not_valid_before=issued,
        resumption_secret=b"s" * 32,
        server_name="www.example.com",
        ticket=label,
    )


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime.datetime:
        return self.now


def test_a_ticket_is_found_once() -> None:
    """A stored ticket is returned by its label, then no more (single use, RFC 8446 §8.1)."""
    store = TicketStore(now=Clock())
    t = ticket(b"a")
    store.add(t)
    assert store.pop(b"a") is t
    assert store.pop(b"a") is None
    assert store.pop(b"unknown") is None


def test_the_oldest_ticket_goes_beyond_capacity() -> None:
    """Past its capacity the store forgets the least recently issued ticket."""
    store = TicketStore(capacity=2, now=Clock())
    for label in (b"a", b"b", b"c"):
        store.add(ticket(label))
    assert len(store) == 2
    assert store.pop(b"a") is None
    assert store.pop(b"b") is not None
    assert store.pop(b"c") is not None


def test_an_expired_ticket_is_not_used() -> None:
    """A ticket past its lifetime is not returned, and is dropped when newer ones arrive."""
    clock = Clock()
    store = TicketStore(now=clock)
    store.add(ticket(b"old"))
    clock.now = T0 + DAY + datetime.timedelta(seconds=1)
    assert store.pop(b"old") is None
    store.add(ticket(b"stale"))
    store.add(ticket(b"fresh", issued=clock.now))
    assert len(store) == 1
    assert store.pop(b"fresh") is not None
