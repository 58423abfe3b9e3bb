"""The summary on top: phases per step, upstream DNS queries, caches, protocols, outcome."""

import json

from lab.report import hosts
from lab.report.packets import Message
from lab.report.summary import summary_html, summary_rows, upstream_queries
from lab.topology import DEFAULT_PLAN, plan_of

from .conftest import DATA

RESOLVER = DEFAULT_PLAN.address("resolver")  # on the ISP's network, 198.18.2.53
ROOT = DEFAULT_PLAN.address("root-a")

BROWSE = json.loads((DATA / "browse-cold" / "timeline.json").read_text())


def _query(src: str, t: float, dst: str = ROOT) -> Message:
    return Message(1, t, src, dst, "dns", "query", "A www.example.com")


def test_upstream_queries_counts_only_the_resolvers() -> None:
    """The client's own query is not an upstream one; the resolver's are, inside the window."""
    msgs = [
        _query(RESOLVER, 5.0),
        _query(RESOLVER, 6.0),
        _query(DEFAULT_PLAN.address("client"), 5.5, RESOLVER),
        _query(RESOLVER, 99.0),
    ]
    assert upstream_queries(msgs, 4.0, 10.0) == 2


def test_browse_rows() -> None:
    """A cold browse gets a line per phase, the X-Cache tally, the protocol and the outcome."""
    start = BROWSE["steps"][0]["started"]
    flat = plan_of(BROWSE)  # a run from before the home network: its resolver is 198.51.100.53
    with hosts.using(flat):
        rows = summary_rows(BROWSE, [_query(flat.address("resolver"), start + 0.5)] * 3)
    what = {w: v for _s, w, v in rows}
    assert [w for _s, w, _v in rows][:6] == ["DNS", "TCP", "TLS", "first byte", "subresources",
                                            "total"]  # fmt: skip
    assert what["DNS"] == "660.8 ms (3 upstream queries by the resolver)"
    assert what["X-Cache"] == "MISS ×6"
    assert what["HTTP"] == "h2 on 2 connections"
    assert what["outcome"] == "ok: 0 of 5 expectations failed"


def test_one_block_per_step_and_failures_counted() -> None:
    """Steps without page loads get one line each; a failed expectation makes it FAILED."""
    timeline = {
        "steps": [{"index": 1, "kind": "fetch", "target": "https://api/", "status": 200, "ms": 5,
                   "started": 1.0, "finished": 2.0, "cache": ["BYPASS"]},
                  {"index": 2, "kind": "dig", "target": "x", "rcode": "NXDOMAIN", "ms": 3,
                   "started": 2.0, "finished": 3.0}],
        "expectations": [{"passed": True}, {"passed": False}],
        "ok": False,
    }  # fmt: skip
    rows = summary_rows(timeline, [])
    assert ("step 1", "fetch https://api/", "200 in 5.0 ms · X-Cache BYPASS") in rows
    assert ("step 2", "dig x", "NXDOMAIN in 3.0 ms") in rows
    assert rows[-1] == ("run", "outcome", "FAILED: 1 of 2 expectations failed")
    assert "color:#c0392b" in summary_html(timeline, [])
    timeline["expectations"] = [{"passed": True}]
    assert summary_rows(timeline, [])[-1][2].startswith("FAILED: 0 of 1 expectations failed, but")
