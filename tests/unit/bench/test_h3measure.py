"""How the HTTP/3 rows name their bottleneck."""

from __future__ import annotations

from bench.h3measure import bottleneck


def test_the_side_with_more_cpu_is_the_bottleneck() -> None:
    """Client and server share the CPUs: whichever spent more for the same work limits it."""
    assert bottleneck(2.0, 1.0) == "server"
    assert bottleneck(0.5, 1.5) == "client"
    assert bottleneck(0.0, 0.0) == "-"
