"""The DNS part of the story: the resolver's walk from the root, step by step.

The resolver logs each lookup as a ``resolver_query`` line whose ``trace``
lists its upstream questions in order (server, zone, result, detail, depth:
depth > 0 is a side lookup, such as a name server's own address). Each trace
step is paired with its query and reply in the capture.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lab.report import hosts as plan_hosts
from lab.report.match import Matcher, Section, frames_text
from lab.report.packets import Message


def _dns_name(address: str) -> str:
    host = plan_hosts.plan().by_address.get(address)
    return host.dns_name if host else address


def _zone(zone: str) -> str:
    return "the root zone" if zone in (".", "") else zone


def resolver_event(
    events: Sequence[Mapping[str, Any]], name: str, started: float
) -> Mapping[str, Any] | None:
    """The resolver's log line for the client's lookup of NAME, nearest in time."""
    fq = name.rstrip(".") + "."
    cands = [e for e in events if e.get("event") == "resolver_query" and e.get("qname") == fq]
    if not cands:
        return None
    return min(cands, key=lambda e: abs(float(e.get("time", 0)) - started))


def _pair(m: Matcher, server: str, qname: str, after: int) -> list[Message]:
    q = m.take(
        lambda x: x.kind == "query"
        and x.src == plan_hosts.address("resolver")
        and x.dst == server
        and x.dns is not None
        and x.dns.qname == qname.rstrip("."),
        after,
    )
    if q is None or q.dns is None:
        return []
    qid = q.dns.id
    r = m.take(
        lambda x: x.kind == "response"
        and x.src == server
        and x.dns is not None
        and x.dns.id == qid,
        q.frame,
    )
    return [q] + ([r] if r else [])


def _step_text(step: Mapping[str, Any], first: bool, frames: list[int]) -> str:
    server = str(step.get("server_name") or step.get("server") or "").rstrip(".")
    if not server:  # the resolver's own decision, no packet: RFC 9156 relaxed mode
        side = "Side lookup: " if int(step.get("depth") or 0) > 0 else ""
        return f"{side}The resolver did not take that answer as final: {step.get('detail')}."
    zone, qname = str(step.get("zone") or ""), str(step.get("qname") or "").rstrip(".")
    result, detail = str(step.get("result") or ""), str(step.get("detail") or "")
    where = f" ({frames_text(frames)})"
    side = "Side lookup: " if int(step.get("depth") or 0) > 0 else ""
    lead = ""
    if first and zone in (".", ""):
        lead = (
            "The resolver had nothing cached that could help, so it started at the top, "
            f"with {server}, one of the root servers listed in its root hints. "
        )
    elif first:
        lead = (
            f"The resolver did not go back to the root or the TLD servers: it still had "
            f"the delegation of {zone} in its cache, within its TTL, so it asked {server} "
            "directly. "
        )
    if result == "referral":
        target = detail.removeprefix("referral to ").split(" ", 1)[0]
        ns = [n.strip().rstrip(".") for n in detail.split("(", 1)[-1].split(";", 1)[0].split(",")]
        names = " and ".join(ns)
        their = "their addresses" if len(ns) > 1 else "its address"
        if "no glue" in detail:
            tail = (
                f"but without glue: the name server's name lies outside {_zone(zone)}, so "
                "that zone holds no address for it to hand out. The "
                "resolver has to put the question aside and first find that name server's "
                "address itself: a glue-less delegation, as many CDNs use"
            )
        else:
            tail = f"together with {their} as glue, so the resolver could go on at once"
        who = "The root" if zone in (".", "") else f"{server}, a server for {zone},"
        return (
            f"{side}{lead}{who} does not know {qname}, but knows who serves {target}: it "
            f"sent a referral to {names}, {tail}{where}."
        )
    if result == "cname":
        cname = detail.removeprefix("CNAME ").rstrip(".")
        return (
            f"{side}{lead}{server}, authoritative for {zone} (the aa flag is set), "
            f"answered that {qname} is an alias: CNAME {cname}. That name belongs to "
            f"another zone, the CDN's, so the resolver started over for it{where}."
        )
    if result == "answer":
        return (
            f"{side}{lead}{server}, authoritative for {zone}, answered {qname} with "
            f"{detail}{where}."
        )
    return f"{side}{lead}{server} ({zone}) replied {result}: {detail}{where}."


STUB = "127.0.0.53"


def _via_home(
    m: Matcher, name: str, server: str, q: Message | None
) -> tuple[str, Message | None, bool] | None:
    """The home network's part of a lookup through the client's stub cache: the story so
    far, the home router's question to the ISP's resolver (if one left the home), and
    whether the resolver was asked. None for a lookup sent straight to a resolver."""
    if server != STUB:
        return None
    router = plan_hosts.plan().address("home-router")
    public = plan_hosts.plan().public
    lead = (
        f"The client needs an address for {name}. The browser asked the OS's stub "
        f"resolver on {STUB}, a cache inside the client (what resolv.conf names, as "
        "systemd-resolved does); that question never touches the wire."
    )
    if q is None or q.dst != router:
        return (f"{lead} The stub had the answer in its cache: no question left the client.",
                None, False)  # fmt: skip
    up = m.take(
        lambda x: x.kind == "query"
        and x.src == public
        and x.dst == plan_hosts.address("resolver")
        and x.dns is not None
        and x.dns.qname == name,
        q.frame,
    )
    text = (
        f"{lead} The stub did not have it, so it asked the DNS server its DHCP lease names, "
        f"the home router ({router}, {frames_text([q.frame])})"
    )
    if up is None:
        return f"{text}; the router's cache had it, so the question went no farther.", None, False
    return (
        f"{text}. The router's cache did not have it either: it asked the ISP's resolver, "
        f"from the home's public address {public} ({frames_text([up.frame])}).",
        up,
        True,
    )


def _answered_at_home(
    sec: Section, m: Matcher, d: Mapping[str, Any], q: Message | None, up: Message | None
) -> Section:
    addrs = ", ".join(d.get("addresses") or []) or "no address"
    r = None
    if q is not None and q.dns is not None:
        qid = q.dns.id
        r = m.take(lambda x: x.kind == "response" and x.dst == m.client and x.dns is not None
                   and x.dns.id == qid, q.frame)  # fmt: skip
    if r is not None:
        sec.frames.append(r.frame)
    sec.paragraphs.append(
        f"The answer, {addrs} ({d.get('rcode')}{', ' + frames_text([r.frame]) if r else ''}), "
        f"came back {float(d.get('ms') or 0):.1f} ms after the question, with TTLs counted "
        "down by the time it had been held."
    )
    return sec


def narrate_dns(m: Matcher, d: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> Section:
    """The client's lookup D (a timeline 'dns' entry) and the resolver's walk behind it."""
    name = str(d["name"])
    sec = Section(f"DNS: {name}")
    q = m.take(
        lambda x: x.kind == "query"
        and x.src == m.client
        and x.dns is not None
        and x.dns.qname == name
    )
    qframe = q.frame if q else 0
    qid = q.dns.id if q and q.dns else -1
    server = str(d.get("server") or plan_hosts.address("resolver"))
    if q is not None:
        sec.frames.append(q.frame)
    home = _via_home(m, name, server, q)
    if home is not None:
        stub_text, up, asked_resolver = home
        sec.paragraphs.append(stub_text)
        if not asked_resolver:
            return _answered_at_home(sec, m, d, q, up)
        if up is not None:
            sec.frames.append(up.frame)
            qframe = up.frame
    else:
        sec.paragraphs.append(
            f"The client needs an address for {name}. It asked its resolver, "
            f"{_dns_name(server)} ({d.get('server')}), in one UDP query for the A record "
            f"with recursion desired ({frames_text([qframe] if q else [])})."
        )
    ev = resolver_event(events, name, float(d.get("started") or 0))
    if ev is None:
        sec.paragraphs.append("The resolver's log has no line for this lookup.")
    elif ev.get("from_cache"):
        sec.paragraphs.append(
            "The resolver had the answer in its cache, within its TTL, so "
            "it replied at once without asking any other server."
        )
    else:
        for i, step in enumerate(ev.get("trace") or []):
            pair = _pair(m, str(step.get("server")), str(step.get("qname")), qframe)
            frames = [x.frame for x in pair]
            sec.frames += frames
            sec.paragraphs.append(_step_text(step, i == 0, frames))
    r = m.take(
        lambda x: x.kind == "response"
        and x.dst == m.client
        and x.dns is not None
        and x.dns.id == qid,
        qframe,
    )
    chain = "; ".join(
        str(c).replace(". CNAME ", " CNAME ").rstrip(".") for c in d.get("chain") or []
    )
    addrs = ", ".join(d.get("addresses") or []) or "no address"
    if r is not None:
        sec.frames.append(r.frame)
    upstream = f" after {ev.get('upstream_queries')} upstream queries" if ev else ""
    to = "the home router, whose cache passed it to the client's stub" if home else "the client"
    sec.paragraphs.append(
        f"The resolver returned the whole chain to {to}{upstream}: "
        f"{chain + ', then ' if chain else ''}{addrs} ({d.get('rcode')}, "
        f"{frames_text([r.frame] if r else [])}), {float(d.get('ms') or 0):.1f} ms after the "
        "question. It keeps every record it learned for its TTL, which is why the next "
        "lookup in the same zones is shorter."
    )
    return sec
