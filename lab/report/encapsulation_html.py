"""The report's "one request, hop by hop" section, drawn from lab/report/encapsulation.py.

Three parts: the layers as nested boxes (Ethernet around IP around TCP around
TLS around HTTP, each with its byte count), a table with one column per
network the packet crossed and one row group per layer (a cell that changed
since the network before is marked and says why), and a few plain sentences
on what each router did, to the request and to its answer.

The table is as wide as the page and no wider: ``table-layout:fixed`` with
columns in percent, long values wrap, so it fits a 1280 px screen and paper.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path

from lab.report import hosts
from lab.report.encapsulation import Encapsulation, Hop, Layer, Router, encapsulation
from lab.report.encapsulation_fields import FIELDS
from lab.report.packets import tshark_rows

CSS = """
.encap .enest{margin:.6em 0 1em;font-size:.92em}
.ebox{border:2px solid #8d99ae;border-radius:6px;padding:.25em .5em .5em;margin-top:.35em;
background:#fff}
.ebox>.ebar{overflow-wrap:anywhere}.ebox>.ebar b{margin-right:.5em}
.ebox>.ebar .eby{font:12px ui-monospace,monospace;margin-right:.5em}
.ebox.l-ip{border-color:#1f6fb2}.ebox.l-tcp{border-color:#2a9d8f}
.ebox.l-tls{border-color:#9b5de5}.ebox.l-http{border-color:#e76f51}
table.etable{width:100%;table-layout:fixed;font-size:.9em}
table.etable col.ename{width:15%}
.etable td,.etable th{vertical-align:top;overflow-wrap:anywhere}
.etable td{font:12px ui-monospace,monospace}
.etable thead th{background:#f3f6fa}
.etable tr.elayer th{border-left:6px solid #8d99ae;background:#fafbfc;font-weight:600}
.etable tbody.l-ip tr.elayer th{border-left-color:#1f6fb2}
.etable tbody.l-tcp tr.elayer th{border-left-color:#2a9d8f}
.etable tbody.l-tls tr.elayer th{border-left-color:#9b5de5}
.etable tbody.l-http tr.elayer th{border-left-color:#e76f51}
.etable td.chg{background:#fff3c4;border-left:3px solid #f0a500}
.etable .eowner{display:block;color:#557;font:12px system-ui,sans-serif}
.etable .enote{display:block;color:#9a5b00;font:11.5px system-ui,sans-serif}
.etable td.chg .enote{font-weight:600}
@media print{.encap .enest,.etable tbody{break-inside:avoid}
.etable td.chg,.ebox{print-color-adjust:exact;-webkit-print-color-adjust:exact}}
"""

WHAT = {
    "request": "the run's first HTTP request from the client",
    "client-hello": "the run's first TLS ClientHello from the client (no HTTP request could be "
    "read)",
    "syn": "the client's first TCP SYN (no TLS or HTTP from it in the capture)",
}


def _css_class(layer: Layer) -> str:
    return f"l-{layer.name.split('/')[0].lower()}"


def _boxes(layers: Sequence[Layer]) -> str:
    """Each layer a box inside the one that carries it, innermost last."""
    out = ""
    for layer in reversed(layers):
        size = f"{layer.size} bytes" if layer.size is not None else ""
        out = (
            f'<div class="ebox {_css_class(layer)}"><div class="ebar"><b>{escape(layer.name)}'
            f'</b><span class="eby">{size}</span>{escape(layer.detail)}</div>{out}</div>'
        )
    return out


def _head(hops: Sequence[Hop]) -> str:
    t0 = hops[0].copy.time
    cells = "".join(
        f'<th>{i} · {escape(h.copy.network)}<br><span class="muted">frame {h.copy.frame}, '
        f"+{(h.copy.time - t0) * 1000:.3f} ms</span></th>"
        for i, h in enumerate(hops, start=1)
    )
    return f"<thead><tr><th>layer · field</th>{cells}</tr></thead>"


def _group(layer: Layer, n: int) -> str:
    size = f" · {layer.size} bytes" if layer.size is not None else ""
    header = f", {layer.head}" if layer.head else ""
    rows = [
        f'<tr class="elayer"><th colspan="{n + 1}">{escape(layer.name)}{size}{header}</th></tr>'
    ]
    for field in layer.fields:
        tds = []
        for c in field.cells:
            owner = f'<span class="eowner">{escape(c.owner)}</span>' if c.owner else ""
            note = f'<span class="enote">{escape(c.note)}</span>' if c.note else ""
            cls = ' class="chg"' if c.changed else ""
            tds.append(f"<td{cls}>{escape(c.value)}{owner}{note}</td>")
        rows.append(f"<tr><th>{escape(field.name)}</th>{''.join(tds)}</tr>")
    return f'<tbody class="{_css_class(layer)}">{"".join(rows)}</tbody>'


def _table(view: Encapsulation) -> str:
    n = len(view.hops)
    cols = '<colgroup><col class="ename">' + "<col>" * n + "</colgroup>"
    groups = "".join(_group(layer, n) for layer in view.layers)
    return f'<table class="etable">{cols}{_head(view.hops)}{groups}</table>'


def _end(h: Hop, side: str) -> str:
    c = h.copy
    return f"{c.ip_src}:{c.sport}" if side == "src" else f"{c.ip_dst}:{c.dport}"


def router_text(r: Router) -> str:
    """What ROUTER did, in plain words, with the frame numbers of hops.pcapng."""
    a, b = r.before, r.after
    parts = [
        f"new MACs ({a.src.owner or a.src.address} → {a.dst.owner or a.dst.address} on "
        f"{a.copy.network}, {b.src.owner or b.src.address} → {b.dst.owner or b.dst.address} "
        f"on {b.copy.network})"
        if (a.src.address, a.dst.address) != (b.src.address, b.dst.address)
        else "the same MACs (a switch, not a router?)"
    ]
    parts.append(f"TTL {a.copy.ttl}→{b.copy.ttl}, so it recomputed the IP header checksum")
    nat = []
    if _end(a, "src") != _end(b, "src"):
        kept = " (port kept: no other connection used it)" if a.copy.sport == b.copy.sport else ""
        nat.append(f"the source {_end(a, 'src')} → {_end(b, 'src')}{kept}")
    if _end(a, "dst") != _end(b, "dst"):
        nat.append(
            f"the destination {_end(a, 'dst')} back to {_end(b, 'dst')}, from the entry "
            "it made when the connection opened"
        )
    if nat:
        parts.append(f"its NAT rewrote {' and '.join(nat)}, and the TCP checksum with them")
    else:
        parts.append("addresses and ports untouched")
    return (
        f"{r.service} ({a.copy.network} → {b.copy.network}, frames {a.copy.frame} → "
        f"{b.copy.frame}): {'; '.join(parts)}."
    )


def _what(view: Encapsulation) -> str:
    c = view.hops[-1].copy
    to = hosts.host_name(c.ip_dst)
    if view.kind == "request" and c.http is not None:
        method, authority, path = c.http
        return f"{WHAT['request']} to {to}: {method} https://{authority}{path}"
    return f"{WHAT[view.kind]} to {to}"


def encapsulation_html(view: Encapsulation) -> str:
    """The section for VIEW: boxes, the hop table, the routers' sentences and the answer."""
    routers = "".join(f"<li>{escape(router_text(r))}</li>" for r in view.routers)
    reply = ""
    if view.reply:
        first, last = view.reply[0].copy, view.reply[-1].copy
        what = f"HTTP {first.status}" if first.status else first.flags
        reply = (
            f"<h3>The answer</h3><p>The answer ({escape(what)}, frame {first.frame} on "
            f"{escape(first.network)}, TTL {first.ttl}) comes back along the same path "
            f"the other way: {' → '.join(escape(h.copy.network) for h in view.reply)}, "
            f"arriving as frame {last.frame} with TTL {last.ttl} and destination "
            f"{escape(_end(view.reply[-1], 'dst'))}."
            "</p><ol>"
            + "".join(f"<li>{escape(router_text(r))}</li>" for r in view.reply_routers)
            + "</ol>"
        )
    return (
        '<section class="encap" id="encapsulation"><h2>One request, hop by hop</h2>'
        f'<p class="muted">{escape(_what(view)[0].upper() + _what(view)[1:])}, on every network '
        "it crossed, from hops.pcapng (which keeps every copy; the frame numbers here are its "
        "own, capture.pcapng keeps only the copy nearest the client). Going down the client's "
        "stack each layer wraps the one above it; each router unwraps the frame, forwards the IP "
        "packet in a new one, and the edge unwraps it all. A marked cell changed since the "
        "network before.</p>"
        f'<div class="enest">{_boxes(view.layers)}</div>{_table(view)}'
        f"<h3>At each router</h3><ol>{routers}</ol>{reply}</section>"
    )


def encapsulation_section(hops_file: Path) -> str:
    """The section for a run's hops.pcapng (one tshark call); "" when the run has none (a run
    from before the home network) or no packet from the client."""
    if not hops_file.exists():
        return ""
    view = encapsulation(tshark_rows(hops_file, FIELDS), hosts.plan())
    return encapsulation_html(view) if view is not None else ""
