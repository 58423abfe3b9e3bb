"""Fixtures for the browser's tests: a fake DNS server that sends every name to 127.0.0.1.

The certificates are the session's (tests/unit/conftest.py): edge.crt names
www.example.com and static.example.com, as the lab's edge does.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from dnslib import QTYPE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSServer


class LoopbackDns(BaseResolver):  # type: ignore[misc]
    """Answers every A question with 127.0.0.1 and remembers the names asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname)
        self.asked.append(name.rstrip("."))
        if request.q.qtype == QTYPE.A:
            reply.add_answer(RR(name, QTYPE.A, rdata=A("127.0.0.1"), ttl=60))
        return reply


class QuietLogger:
    """dnslib's logger interface, printing nothing."""

    def __getattr__(self, name: str) -> object:
        return lambda *args: None


@pytest.fixture
def dns(tmp_path: Path) -> Iterator[tuple[LoopbackDns, Path, int]]:
    """The fake DNS server, a resolv.conf naming it, and its port."""
    resolver = LoopbackDns()
    server = DNSServer(resolver, address="127.0.0.1", port=0, logger=QuietLogger())
    # dnslib's start_thread polls for shutdown every 0.5 s; a short poll ends each test sooner.
    thread = threading.Thread(
        target=server.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    conf = tmp_path / "resolv.conf"
    conf.write_text("# test\nnameserver 127.0.0.1\n")
    yield resolver, conf, server.server.server_address[1]
    server.server.shutdown()
    thread.join()
    server.server.server_close()
