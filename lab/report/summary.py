"""The report at a glance: per step, where the page load's time went, what the caches
said, which HTTP version each connection spoke, and whether the run's expectations held.

Pure functions of the timeline and the capture's messages, so they are tested
without tshark or a browser.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from lab.report import hosts as plan_hosts
from lab.report.packets import Message

Row = tuple[str, str, str]  # step, what, value


def upstream_queries(messages: Sequence[Message], start: float, end: float) -> int:
    """DNS queries the resolver itself sent (its walk), between two epoch times."""
    return sum(
        1
        for m in messages
        if m.proto == "dns"
        and m.kind == "query"
        and m.src == plan_hosts.address("resolver")
        and start <= m.time <= end
    )


def _ms(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1f} ms"


def _counted(counter: Counter[str]) -> str:
    return ", ".join(f"{k} ×{n}" for k, n in counter.most_common()) or "-"


def _protocols(fetches: Sequence[Mapping[str, Any]]) -> str:
    conns: dict[tuple[int, int], str] = {}
    for f in fetches:
        if f.get("connection") and f.get("http_version"):
            conns[(int(f.get("visit") or 1), int(f["connection"]))] = f"h{f['http_version']}"
    n = Counter(conns.values())
    return ", ".join(f"{p} on {c} connection{'s' if c > 1 else ''}" for p, c in sorted(n.items()))


def summary_rows(timeline: Mapping[str, Any], messages: Sequence[Message]) -> list[Row]:
    """One line per fact: page-load phases, caches, protocols per step; then the outcome."""
    fetches = timeline.get("fetches") or []
    phases = {int(p.get("step") or 0): p for p in timeline.get("phases") or []}
    rows: list[Row] = []
    for s in timeline.get("steps") or [{}]:
        index = int(s.get("index") or 0)
        name = f"step {index}" if index else "run"
        start = float(s.get("started") or timeline.get("started") or 0)
        end = float(s.get("finished") or timeline.get("finished") or start)
        mine = [f for f in fetches if int(f.get("step") or 0) == index] if index else fetches
        p = phases.get(index)
        head = f"{s.get('kind', '')} {s.get('target', '')}".strip()
        if p is None:
            status = s.get("status") or s.get("rcode") or ("ok" if s.get("ok", True) else "failed")
            rows.append((name, head or "step", f"{status} in {_ms(s.get('ms'))}"))
        else:
            queries = upstream_queries(messages, start, end)
            rows += [
                (
                    name,
                    "DNS",
                    f"{_ms(p.get('dns_ms'))} ({queries} upstream queries by the resolver)",
                ),
                (name, "TCP", _ms(p.get("tcp_ms"))),
                (name, "TLS", _ms(p.get("tls_ms"))),
                (name, "first byte", _ms(p.get("first_byte_ms"))),
                (name, "subresources", _ms(p.get("subresources_ms"))),
                (name, "total", f"{_ms(p.get('total_ms'))} ({head})"),
            ]
        caches = Counter(str(f["cache"]) for f in mine if f.get("cache"))
        if not caches and s.get("cache"):
            caches = Counter(str(c) for c in s["cache"])
        if caches and p is None and len(caches) == 1 and sum(caches.values()) == 1:
            rows[-1] = (*rows[-1][:2], f"{rows[-1][2]} · X-Cache {next(iter(caches))}")
        elif caches:
            rows.append((name, "X-Cache", _counted(caches)))
        if protocols := _protocols(mine):
            rows.append((name, "HTTP", protocols))
    expectations = timeline.get("expectations") or []
    failed = sum(1 for e in expectations if not e.get("passed"))
    ok = timeline.get("ok", True) and not failed
    verdict = "ok" if ok else "FAILED"
    tally = f"{failed} of {len(expectations)} expectations failed"
    if not ok and not failed:  # the runner's verdict, e.g. a step that did not succeed
        tally += ", but the run is marked failed (see the steps)"
    rows.append(("run", "outcome", f"{verdict}: {tally}"))
    return rows


def summary_html(timeline: Mapping[str, Any], messages: Sequence[Message]) -> str:
    """The rows as a compact table, a step's name shown once, before any long text."""
    out, last = [], ""
    for step, what, value in summary_rows(timeline, messages):
        cell = escape(step) if step != last else ""
        last = step
        style = ' style="color:#c0392b;font-weight:bold"' if value.startswith("FAILED") else ""
        out.append(
            f"<tr><th>{cell}</th><td>{escape(what)}</td><td{style}>{escape(value)}</td></tr>"
        )
    return '<h2>At a glance</h2><table class="glance">' + "".join(out) + "</table>"
