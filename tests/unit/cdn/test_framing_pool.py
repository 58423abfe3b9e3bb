"""services.cdn.framing, upstreams and cachestatus: smuggling rules, round-robin, RFC 9211."""

from __future__ import annotations

import pytest
from yarl import URL

from services.cdn.cachestatus import Outcome
from services.cdn.framing import framing_problem
from services.cdn.upstreams import Pool


# RFC 9112 §6.1 (Transfer-Encoding, HTTP/1.0), §6.3 (CL with TE; differing CL).
@pytest.mark.parametrize(
    ("version", "headers", "status"),
    [
        ((1, 1), [("Content-Length", "4")], None),
        ((1, 1), [("Transfer-Encoding", "chunked")], None),
        ((1, 1), [("Content-Length", "4"), ("Transfer-Encoding", "chunked")], 400),
        ((1, 1), [("Content-Length", "4"), ("Content-Length", "5")], 400),
        ((1, 1), [("Content-Length", "4, 5")], 400),
        ((1, 1), [("Content-Length", "4"), ("Content-Length", "4")], None),
        ((1, 1), [("Content-Length", "-1")], 400),
        ((1, 0), [("Transfer-Encoding", "chunked")], 400),
        ((1, 1), [("Transfer-Encoding", "gzip, chunked")], 501),
    ],
)
def test_framing(
    version: tuple[int, int], headers: list[tuple[str, str]], status: int | None
) -> None:
    """Ambiguous request framing is refused before anything is forwarded."""
    problem = framing_problem(version, headers)
    assert (problem[0] if problem else None) == status


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_round_robin_and_down_last() -> None:
    """Healthy upstreams take turns; one marked down is tried last until it recovers."""
    clock = Clock()
    pool = Pool([URL("https://a"), URL("https://b"), URL("https://c")], clock, retry_after=30)
    firsts = [pool.order()[0].url.host for _ in range(4)]
    assert firsts == ["a", "b", "c", "a"]
    b = pool.members[1]
    pool.mark_down(b, "refused")
    order = [m.url.host for m in pool.order()]
    assert order[-1] == "b"
    assert set(order) == {"a", "b", "c"}
    assert pool.status()[1] == {"upstream": "https://b", "healthy": False, "reason": "refused"}
    clock.now += 30  # without active checks, a down mark expires
    assert pool.status()[1]["healthy"] is True
    pool.mark_down(b, "refused")
    pool.mark_up(b)
    assert pool.members[1].healthy


@pytest.mark.parametrize(
    ("outcome", "header"),
    [
        (Outcome("HIT", hit=True, ttl=42.7), "weblab-edge; hit; ttl=42"),
        (
            Outcome("MISS", fwd="uri-miss", fwd_status=200, ttl=60, stored=True),
            "weblab-edge; fwd=uri-miss; fwd-status=200; ttl=60; stored",
        ),
        (
            Outcome("REVALIDATED", fwd="stale", fwd_status=304, stored=True),
            "weblab-edge; fwd=stale; fwd-status=304; stored",
        ),
        (Outcome("HIT", hit=True, collapsed=True), "weblab-edge; hit; collapsed"),
        (
            Outcome("STALE", fwd="stale", fwd_status=503, detail="stale-if-error"),
            'weblab-edge; fwd=stale; fwd-status=503; detail="stale-if-error"',
        ),
    ],
)
def test_cache_status(outcome: Outcome, header: str) -> None:
    """Cache-Status members follow RFC 9211 §2's parameters."""
    assert outcome.header() == header
