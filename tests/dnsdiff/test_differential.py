"""Differential tests: our servers against NSD and Unbound on the same zones."""

from __future__ import annotations

from harness.corpus import auth_corpus, resolver_corpus
from harness.dnspeers import check_zones
from harness.dnsservers import compose_services
from tests.dnsdiff.conftest import Lab
from tests.dnsdiff.runner import Outcome, run_auth, run_resolver, write_report


def _show(name: str, outcomes: list[Outcome]) -> list[str]:
    summary = write_report(name, outcomes)
    print(
        f"\n{name}: {summary['queries']} queries, {summary['agree']} agree, "
        f"{summary['differ_allowed']} differ as RFCs allow, "
        f"{summary['differ_unexplained']} differ unexplained (runs/dnsdiff/report.json)"
    )
    return [f"{o.question.key()}: {d.kind}: {d.detail}" for o in outcomes for d in o.unexplained]


def test_zone_files_pass_nsd_checkzone() -> None:
    """Every zone file of compose.yaml is accepted by NSD's own zone checker."""
    files = [f for s in compose_services().values() for f in s.zones()]
    assert files
    assert check_zones(files) == []


def test_authoritative_matches_nsd(lab: Lab) -> None:
    """Each corpus query gets the same RCODE, flags and RRsets (TTLs too) as from NSD."""
    questions = auth_corpus()
    assert len(questions) >= 200
    unexplained = _show("authoritative", run_auth(lab.net, questions))
    assert unexplained == [], "\n".join(unexplained)


def test_resolver_matches_unbound(lab: Lab) -> None:
    """Each recursive query gets the same RCODE and answer as from Unbound, TTLs in bounds."""
    unexplained = _show("resolver", run_resolver(lab.net, resolver_corpus()))
    assert unexplained == [], "\n".join(unexplained)
