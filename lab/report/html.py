"""Assemble report.html: one self-contained file, inline CSS, SVG and a few lines of JS.

Nothing is loaded from anywhere: the page opens from a run folder on a
machine with no network, and from an archived copy years later.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from lab.report.encapsulation_html import CSS as ENCAP_CSS
from lab.report.hol import hol_section
from lab.report.journey import journey_section
from lab.report.match import Section, frames_text
from lab.report.packets import Message
from lab.report.poison import poison_section
from lab.report.summary import summary_html

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:1em 2em;
color:#222}
h1{font-size:1.5em}h2{margin-top:2em;border-bottom:1px solid #ddd}
.muted{color:#777;font-weight:normal}
.scroll{overflow-x:auto;border:1px solid #e4e4e4;border-radius:6px;padding:.5em}
svg text{font:11px ui-monospace,monospace}
.scroll:has(>.sequence){overflow:visible}
.heads{position:sticky;top:0;z-index:1;background:#fff;box-shadow:0 3px 3px -3px #9ab}
svg.seq,svg.heads{display:block;max-width:100%;height:auto}
.heads rect{fill:#f3f6fa;stroke:#9ab}.heads text{font-weight:bold}
.life{stroke:#ccd;stroke-dasharray:4 4}
.msg line,.msg path{stroke-width:1.6}
.msg .lbl{paint-order:stroke;stroke:#fff;stroke-width:3px}
.msg .fno{fill:#999}
.msg:hover .lbl,.msg.hl .lbl{font-weight:bold}
.msg.hl line{stroke-width:3.5}
details.phase>summary{cursor:pointer;padding:.2em 0;font-weight:600}
details.fold>summary{list-style:none;cursor:pointer}
details.fold>summary::-webkit-details-marker{display:none}
details.fold[open] .shut,details.fold:not([open]) .shown{display:none}
.foldrow .lbl{paint-order:stroke;stroke:#fff;stroke-width:3px}.foldrow .fno{fill:#999}
details.fold>summary:hover .lbl{font-weight:bold}
details:not([open]):has(.msg.hl)>summary{background:#fff3c4}
@media print{.heads{position:static}}
.tick{stroke:#eee;fill:#999}
section.step{border-left:4px solid #cde;padding:.1em 1em;margin:1em 0}
section.step:hover{border-color:#1f6fb2}
section.step h3{margin:.4em 0;font-size:1.05em}
section.step-head{margin:1.6em 0 .4em;border-bottom:2px solid #1f6fb2}
section.step-head h3{margin:.3em 0;font-size:1.2em}
table{border-collapse:collapse}td,th{padding:.2em .6em;border-bottom:1px solid #eee;
text-align:left}
svg.journey{max-width:100%;height:auto}
.journey .jhost rect{fill:#f3f6fa;stroke:#9ab}.journey .jname{font-weight:bold}
.journey .jdns{font-size:9.5px;fill:#557}.journey .jarrow{stroke-width:1.6}
.journey .idle rect{fill:#f6f6f6;stroke:#ccc;stroke-dasharray:3 3}.journey .idle text{fill:#aaa}
.journey .jhop text{fill:#fff;font-weight:bold}
.journey .jhop:hover circle{stroke:#222;stroke-width:2}
.jlist{columns:2 32em;font-size:.92em}.jnoreply{color:#c0392b}
.journey .jhop,.jlink{cursor:pointer}.jlink{color:#1f6fb2;text-decoration:underline}
section.jflash{outline:2px solid #f0a500}
@media print{.journey-map{break-inside:avoid}}
"""

# Hovering a narration step highlights the arrows of the frames it cites.
JS = """
document.querySelectorAll('section.step').forEach(function (s) {
  var frames = (s.dataset.frames || '').split(' ');
  function mark(on) {
    frames.forEach(function (f) {
      document.querySelectorAll('.msg[data-frame="' + f + '"]').forEach(function (g) {
        g.classList.toggle('hl', on);
      });
    });
  }
  s.addEventListener('mouseenter', function () { mark(true); });
  s.addEventListener('mouseleave', function () { mark(false); });
});
"""


def _summary(timeline: Mapping[str, Any], messages: Sequence[Message]) -> str:
    fetches = timeline.get("fetches") or []
    started = float(timeline.get("started") or 0)
    when = dt.datetime.fromtimestamp(started, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    total = (float(timeline.get("finished") or started) - started) * 1000
    counts: dict[str, int] = {}
    for m in messages:
        counts[m.proto] = counts.get(m.proto, 0) + 1
    rows = [
        ("scenario", str(timeline.get("scenario", "?"))),
        ("started", when),
        ("requests", str(len(fetches))),
        ("wall time", f"{total:.1f} ms"),
        ("outcome", "ok" if timeline.get("ok", True) else "FAILED"),
        ("messages drawn", ", ".join(f"{n} {p.upper()}" for p, n in counts.items())),
        ("TLS secrets embedded", str(timeline.get("tls_secrets", "?"))),
    ]
    visits = max((int(f.get("visit") or 1) for f in fetches), default=1)
    if visits > 1:
        resumed = sum(1 for f in fetches if f.get("tls_resumed") and not f.get("reused_connection"))
        not_modified = sum(1 for f in fetches if f.get("status") == 304)
        rows.insert(
            3,
            (
                "visits",
                f"{visits} (later ones as a reload: {resumed} TLS "
                f"handshakes resumed, {not_modified} responses 304)",
            ),
        )
    return (
        "<table>"
        + "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
        + "</table>"
    )


def _phases(timeline: Mapping[str, Any]) -> str:
    """Where each page load's time went, and what each HTTP version cost (scenario runner)."""
    rows = timeline.get("phases") or []
    if not rows:
        return ""
    head = ("step", "profile", "HTTP", "DNS ms", "TCP ms", "TLS ms", "first byte ms",
            "subresources ms", "total ms", "connections", "TLS handshakes",
            "round trips to 1st byte", "in flight", "bytes on the wire")  # fmt: skip
    body = []
    for r in rows:
        rtts = r.get("rtts_before_first_byte")
        cells = (r.get("step"), r.get("profile"), r.get("http"), r.get("dns_ms"), r.get("tcp_ms"),
                 r.get("tls_ms"), r.get("first_byte_ms"), r.get("subresources_ms"),
                 r.get("total_ms"), r.get("connections"), r.get("tls_handshakes"),
                 "-" if rtts is None else rtts, r.get("in_flight"),
                 r.get("wire_bytes", "-"))  # fmt: skip
        body.append("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in cells) + "</tr>")
    return (
        '<h2>Where the time went</h2><p class="muted">One row per page load: DNS, TCP and TLS '
        "summed over its new connections; round trips counted against the client-edge round "
        'trip of the profile in force.</p><div class="scroll"><table><tr>'
        + "".join(f"<th>{escape(h)}</th>" for h in head)
        + "</tr>"
        + "".join(body)
        + "</table></div>"
    )


def _sections(sections: Sequence[Section]) -> str:
    parts = []
    for s in sections:
        if s.heading:
            paras = "".join(f"<p>{escape(p)}</p>" for p in s.paragraphs)
            parts.append(f'<section class="step-head"><h3>{escape(s.title)}</h3>{paras}</section>')
            continue
        frames = " ".join(str(f) for f in sorted(set(s.frames)))
        paras = "".join(f"<p>{escape(p)}</p>" for p in s.paragraphs)
        parts.append(
            f'<section class="step" data-frames="{frames}"><h3>{escape(s.title)} '
            f'<span class="muted">({escape(frames_text(s.frames))})</span></h3>'
            f"{paras}</section>"
        )
    return "".join(parts)


def page(
    run_name: str,
    timeline: Mapping[str, Any],
    messages: Sequence[Message],
    sequence: str,
    waterfall: str,
    sections: Sequence[Section],
    encapsulation: str = "",
) -> str:
    """The report page, from the parts the other modules drew (ENCAPSULATION: one request
    hop by hop, "" for a run with no hops.pcapng)."""
    title = f"weblab run {run_name}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{CSS}{ENCAP_CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1>{summary_html(timeline, messages)}"
        f"{_summary(timeline, messages)}{journey_section(messages)}{encapsulation}"
        f"{_phases(timeline)}"
        '<h2>Waterfall</h2><p class="muted">From the client\'s timeline: where each '
        "request's time went, as a browser's network panel shows it.</p>"
        f'<div class="scroll">{waterfall}</div>{hol_section(timeline)}{poison_section(timeline)}'
        '<h2>What happened, step by step</h2><p class="muted">Hover a step to highlight '
        "its frames in the diagram below; frame numbers are Wireshark's.</p>"
        f"{_sections(sections)}"
        '<h2>Sequence diagram</h2><p class="muted">One arrow per message, in capture order; '
        "hover an arrow for its frame and time. Each phase folds.</p>"
        f'<div class="scroll">{sequence}</div>'
        f"<script>{JS}</script></body></html>\n"
    )
