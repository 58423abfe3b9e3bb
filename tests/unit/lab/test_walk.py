"""The resolver's walk read from a capture's questions, in frame order."""

from __future__ import annotations

from lab.scenario.walk import Question, group_of, path_for
from lab.topology import BY_SERVICE

R = BY_SERVICE["resolver"].ipv4
C = BY_SERVICE["client"].ipv4


def q(frame: int, src: str, dst: str, name: str) -> Question:
    return Question(frame, src, dst, name)


def ip(service: str) -> str:
    return BY_SERVICE[service].ipv4


def test_group_names() -> None:
    """Root and TLD servers count as one group each; others by their service name."""
    assert group_of(ip("root-b")) == "roots"
    assert group_of(ip("tld-a")) == "tlds"
    assert group_of(ip("ns-example")) == "ns-example"


def test_a_minimised_walk_from_the_root() -> None:
    """With QNAME minimisation the root is asked "com", the TLD "example.com": still the walk."""
    questions = [
        q(1, C, R, "www.example.com"),
        q(2, R, ip("root-a"), "com"),
        q(3, R, ip("tld-b"), "example.com"),
        q(4, R, ip("ns-example"), "www.example.com"),
    ]
    assert path_for(questions, "www.example.com", R, C) == ["roots", "tlds", "ns-example"]


def test_a_walk_that_skipped_the_root_is_seen() -> None:
    """A cached delegation makes the walk start at ns1.example.com: the path says so."""
    questions = [q(1, C, R, "www.example.com"), q(2, R, ip("ns-example"), "www.example.com")]
    assert path_for(questions, "www.example.com", R, C) == ["ns-example"]


def test_other_names_and_earlier_lookups_do_not_count() -> None:
    """Questions before the client's, and for unrelated names (an NS's address), are left out."""
    questions = [
        q(1, R, ip("ns-example"), "origin.example.com"),  # the edge's lookup, before the client
        q(2, C, R, "www.example.com"),
        q(3, R, ip("root-a"), "com"),
        q(4, R, ip("tld-a"), "edgecdn-dns.com"),  # the glue-less NS: not an ancestor
        q(5, R, ip("root-b"), "com"),  # a retry at the other root: one group
        q(6, R, ip("tld-a"), "example.com"),
    ]
    assert path_for(questions, "www.example.com", R, C) == ["roots", "tlds"]


def test_no_client_question_no_walk() -> None:
    """Without the client's question there is no walk to judge."""
    assert path_for([q(1, R, ip("root-a"), "com")], "www.example.com", R, C) == []


def test_a_lookup_still_under_way_is_not_the_walk() -> None:
    """Another name's lookup (a retry left from before the run) walked the shared ancestors
    first; the walk for www.example.com starts at its own question, so it is whole."""
    questions = [
        q(1, C, R, "static.example.com"),
        q(2, R, ip("root-a"), "com"),
        q(3, R, ip("tld-a"), "example.com"),
        q(4, R, ip("ns-example"), "static.example.com"),
        q(5, C, R, "www.example.com"),
        q(6, R, ip("root-b"), "com"),
        q(7, R, ip("tld-b"), "example.com"),
        q(8, R, ip("ns-example"), "www.example.com"),
    ]
    assert path_for(questions, "www.example.com", R, C) == ["roots", "tlds", "ns-example"]
    # A CNAME's target is never asked by the client: its walk starts at the first question.
    assert path_for(questions, "example.com", R, C)[:2] == ["roots", "tlds"]
