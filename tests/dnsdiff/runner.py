"""Send the corpus to our servers and the peers inside a MiniInternet; judge each pair."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from dnslib import DNSRecord

from harness.addresses import LAB_DNS, NSD_FOR, UNBOUND_ADDRESS
from harness.corpus import Question, original_ttls
from harness.dnsquery import exchange
from harness.dnsservers import compose_services
from harness.netns import MiniInternet
from tests.dnsdiff.allowed import explain
from tests.dnsdiff.compare import Difference, compare_auth, compare_recursive, summary

REPORT_DIR = Path(__file__).resolve().parents[2] / "runs" / "dnsdiff"


@dataclass
class Outcome:
    """One question, both replies, and the differences found (with any RFC excuse)."""

    question: Question
    ours: DNSRecord | None
    peer: DNSRecord | None
    differences: list[Difference] = field(default_factory=list)
    allowed: dict[str, str] = field(default_factory=dict)  # kind -> citation

    @property
    def unexplained(self) -> list[Difference]:
        """Differences no allow-list entry covers."""
        return [d for d in self.differences if d.kind not in self.allowed]

    def as_json(self) -> dict[str, object]:
        """The report entry."""
        return {
            "question": self.question.key(),
            "category": self.question.category,
            "ours": summary(self.ours),
            "peer": summary(self.peer),
            "differences": [
                {"kind": d.kind, "detail": d.detail, "allowed_by": self.allowed.get(d.kind)}
                for d in self.differences
            ],
        }


def _ask(net: MiniInternet, server: str, wire: bytes, tcp: bool = False) -> DNSRecord | None:
    data = exchange(net, server, wire, timeout=8.0, tcp=tcp)
    return DNSRecord.parse(data) if data is not None else None


def _tcp_agrees(
    net: MiniInternet, ours: str, peer: str, wire: bytes, diffs: list[Difference]
) -> bool:
    """When only one side truncated over UDP: do both give the same answer over TCP?"""
    if not any(d.kind == "flag:tc" for d in diffs):
        return False
    a, b = _ask(net, ours, wire, tcp=True), _ask(net, peer, wire, tcp=True)
    return (
        a is not None
        and b is not None
        and not [d for d in compare_recursive(a, b, {}, slack=86400) if d.kind != "ttl"]
    )


def run_auth(net: MiniInternet, questions: list[Question]) -> list[Outcome]:
    """Each question to our server and to its NSD twin, the same bytes to both."""
    services = compose_services()
    outcomes = []
    for i, q in enumerate(questions):
        wire = q.wire(0x1000 + i)
        ours = _ask(net, services[q.server].address, wire)
        peer = _ask(net, NSD_FOR[q.server], wire)
        o = Outcome(q, ours, peer, compare_auth(ours, peer))
        tcp = _tcp_agrees(net, services[q.server].address, NSD_FOR[q.server], wire, o.differences)
        o.allowed = explain(q, o.differences, ours, peer, "auth", tcp)
        outcomes.append(o)
    return outcomes


def run_resolver(net: MiniInternet, questions: list[Question]) -> list[Outcome]:
    """Each question to our resolver and to Unbound, in the same order (fresh caches)."""
    original = original_ttls()
    outcomes = []
    for i, q in enumerate(questions):
        wire = q.wire(0x2000 + i)
        ours = _ask(net, LAB_DNS["resolver"], wire)
        peer = _ask(net, UNBOUND_ADDRESS, wire)
        o = Outcome(q, ours, peer, compare_recursive(ours, peer, original))
        tcp = _tcp_agrees(net, LAB_DNS["resolver"], UNBOUND_ADDRESS, wire, o.differences)
        o.allowed = explain(q, o.differences, ours, peer, "resolver", tcp)
        outcomes.append(o)
    return outcomes


def write_report(name: str, outcomes: list[Outcome]) -> dict[str, object]:
    """runs/dnsdiff/report.json gets a section per comparison; return its summary."""
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    path = REPORT_DIR / "report.json"
    report: dict[str, object] = json.loads(path.read_text()) if path.exists() else {}
    kinds: dict[str, dict[str, object]] = {}
    for o in outcomes:
        for d in o.differences:
            entry = kinds.setdefault(
                d.kind,
                {
                    "count": 0,
                    "allowed_by": o.allowed.get(d.kind),
                    "example": f"{o.question.key()}: {d.detail}",
                },
            )
            entry["count"] = int(str(entry["count"])) + 1
    result: dict[str, object] = {
        "queries": len(outcomes),
        "agree": sum(1 for o in outcomes if not o.differences),
        "differ_allowed": sum(1 for o in outcomes if o.differences and not o.unexplained),
        "differ_unexplained": sum(1 for o in outcomes if o.unexplained),
        "kinds": kinds,
        "outcomes": [o.as_json() for o in outcomes if o.differences],
    }
    report[name] = result
    path.write_text(json.dumps(report, indent=1, sort_keys=True))
    return {k: v for k, v in result.items() if k != "outcomes"}
