"""The cache-poisoning races of a run (``poison`` steps), and why they went as they did.

From timeline.json's ``poison`` entries, which the runner copies from each
poison step (lab/scenario/steps.py): every race the attacker ran, the
resolver's answer, and what the resolver's cache and the client's own lookups
held afterwards. The odds are RFC 5452's arithmetic on the figures measured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

ID_SPACE = 65536
EPHEMERAL_PORTS = 60999 - 32768 + 1  # Linux's default ip_local_port_range


def odds(sent: int, weak: bool) -> float:
    """The chance that one race of SENT distinct guesses hits (each ID once per cycle)."""
    space = ID_SPACE if weak else ID_SPACE * EPHEMERAL_PORTS
    return min(1.0, sent / space)


def _table(races: Sequence[Mapping[str, Any]], weak: bool) -> str:
    rows = ["<table><tr><th>race</th><th>made-up name</th><th>forged answers</th>"
            "<th>ms</th><th>the resolver answered</th><th>odds</th><th></th></tr>"]  # fmt: skip
    for r in races:
        got = ", ".join(r["answer"]) or r["rcode"]
        mark = "<b>poisoned</b>" if r["poisoned"] else "held"
        rows.append(
            f"<tr><td>{r['try']}</td><td><code>{escape(r['name'])}</code></td>"
            f"<td>{r['sent']:,}</td><td>{r['ms']:.0f}</td><td>{escape(got)}</td>"
            f"<td>{odds(int(r['sent']), weak):.2%}</td><td>{mark}</td></tr>"
        )
    return "".join(rows) + "</table>"


def _expectation(races: Sequence[Mapping[str, Any]], weak: bool) -> str:
    """What the odds predict, in the terms that fit: a race stops at its first hit."""
    if weak:
        won = [f"{int(r['sent']):,}" for r in races if r["poisoned"]]
        return (
            "With the port known, a race is won as soon as a guess is the question's ID: "
            f"on average halfway through the {ID_SPACE:,} IDs ({ID_SPACE // 2:,} guesses), "
            "if the real answer has not come first"
            + (f"; these were won after {', '.join(won)} guesses." if won else ".")
        )
    expected = sum(odds(int(r["sent"]), weak) for r in races)
    return f"Expected successes for that many guesses, by those odds: {expected:.5f}."


def _entry(p: Mapping[str, Any]) -> str:
    weak = p["mode"] == "weak"
    s = p["summary"]
    races = p["races"]
    cached = len(p["forged_in_cache"])
    fooled = len(p["client_fooled"])
    ignored = ""
    if p.get("ignored") is not None:
        ignored = (
            f" The resolver read and turned down {int(p['ignored']):,} of them (wrong ID, or "
            "no question out to that server at the time)"
        )
        if p.get("closed_port") is not None and not weak:
            ignored += (
                f"; its kernel dropped {int(p['closed_port']):,} datagrams at ports where no "
                "question was waiting"
            )
        ignored += "."
    if weak:
        how = (
            f"The resolver asked every question from UDP port {p['port']} (its weakened mode, "
            "this step only): the attacker knew the port, so only the 16-bit ID had to be "
            f"guessed, one in {ID_SPACE:,} per forgery."
        )
    else:
        how = (
            "Each question left from a fresh random source port (the kernel's choice among "
            f"{EPHEMERAL_PORTS:,}) with a random 16-bit ID, and a reply counts only from the "
            "address and port asked, with that ID and that question (RFC 5452 sections 9.1 "
            f"and 9.2): a forgery must guess both, one in {ID_SPACE * EPHEMERAL_PORTS:,}."
        )
    return (
        f"<h3>Step {p['step']}: the resolver {'weakened' if weak else 'as it is'}</h3>"
        f"<p>{how} The attacker sent {s['sent']:,} forged answers in {s['tries']} races "
        f"({s['rate_pps']:,} a second), each for a name that did not exist, from "
        f"ns1.example.com's address, until the real answer came. {_expectation(races, weak)} "
        f"Measured: {sum(r['poisoned'] for r in races)} of {len(races)} races won, "
        f"{cached} forged record(s) in the resolver's cache afterwards, {fooled} given "
        f"to the client's own lookups of the raced names.{ignored}</p>"
        f"{_table(races, weak)}"
    )


def poison_section(timeline: Mapping[str, Any]) -> str:
    """The "cache poisoning" part of the report, or "" when the run raced nobody."""
    found: Sequence[Mapping[str, Any]] = timeline.get("poison") or []
    if not found:
        return ""
    intro = (
        '<p class="muted">Why a forgery must come first and match: a resolver takes the '
        "first reply that fits its question and caches it for the TTL the reply claims. "
        "Bailiwick rules (only records inside the zone asked) limit what one forged reply "
        "can carry; the ID and the port decide whether it is taken at all. Each race asks "
        "for a fresh made-up name, so a lost race costs the attacker nothing and the next "
        "starts at once (Kaminsky, 2008).</p>"
    )
    return (
        "<h2>Cache poisoning</h2>" + intro + "".join(_entry(p) for p in found if p.get("summary"))
    )
