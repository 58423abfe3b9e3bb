"""Alt-Svc: how a browser learns that an origin also speaks HTTP/3, and remembers it.

A server cannot be asked over TCP whether it listens for QUIC on UDP, so it
says so in a response: ``Alt-Svc: h3=":443"; ma=86400`` (RFC 7838 §3, the h3
token from RFC 9114 §3.1.1). The browser keeps that per origin (scheme, host,
port) for ``ma`` seconds (default 24 hours) and opens its *next* connections
to the origin over QUIC; the response that carried the field already came
over TCP. A later Alt-Svc from the same origin replaces what was kept, and
``clear`` forgets it (§3.1).

If the QUIC handshake then fails, the browser uses TCP and marks the
alternative broken for a while (Chromium: five minutes, doubling on each
new failure), so every later request does not pay the failed attempt again.

Parsing and remembering are pure: ``parse`` is RFC 7838 §3's grammar,
``AltSvcCache`` takes the time from its caller.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

H3 = "h3"  # the only protocol-id the browser acts on (RFC 9114 §3.1.1)
DEFAULT_MAX_AGE = 86400.0  # RFC 7838 §3.1
BROKEN_FOR = 300.0  # Chromium's first broken period for an alternative, doubled on each failure

Origin = tuple[str, int]  # host, port: the scheme is always https here

# RFC 7230 §3.2.6 (RFC 9110 §5.6.2): token and quoted-string, as Alt-Svc uses them.
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_PARAM = re.compile(rf"\s*;\s*({_TOKEN})\s*=\s*({_TOKEN}|{_QUOTED})")
_ALT = re.compile(rf"\s*({_TOKEN})\s*=\s*({_QUOTED})")
_ITEM = re.compile(rf'(?:{_QUOTED}|[^",])+')  # one list member: commas inside quotes kept


@dataclass(frozen=True)
class Alternative:
    """One alt-value: ALPN protocol, where to connect (host "" = the origin's), for how long."""

    protocol: str
    host: str
    port: int
    max_age: float = DEFAULT_MAX_AGE


def _unquote(text: str) -> str:
    if text.startswith('"'):
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def _authority(text: str) -> tuple[str, int] | None:
    """``[uri-host] ":" port`` (RFC 7838 §3), or None if malformed."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host.strip("[]"), int(port)  # an IPv6 literal comes bracketed


def parse(value: str) -> list[Alternative] | None:
    """The alternatives one Alt-Svc field value names; None for ``clear``.

    A malformed alt-value is skipped and the rest kept: a client ignores what
    it cannot parse (RFC 7838 §3).
    """
    if value.strip() == "clear":  # case-sensitive (§3)
        return None
    found: list[Alternative] = []
    for item in _ITEM.findall(value):
        alt = _alternative(item)
        if alt is not None:
            found.append(alt)
    return found


def _alternative(item: str) -> Alternative | None:
    """``alternative *( OWS ";" OWS parameter )`` (RFC 7838 §3), or None if malformed."""
    m = _ALT.match(item)
    if m is None:
        return None
    where = _authority(_unquote(m.group(2)))
    pos, max_age = m.end(), DEFAULT_MAX_AGE
    while (p := _PARAM.match(item, pos)) is not None:
        pos = p.end()
        if p.group(1).lower() == "ma":  # delta-seconds (§3.1); persist and others ignored
            age = _unquote(p.group(2))
            if not age.isdigit():
                return None
            max_age = float(age)
    if where is None or item[pos:].strip():
        return None
    # protocol-id is the ALPN name percent-encoded (§3): "h3" stays "h3".
    return Alternative(unquote(m.group(1)), where[0], where[1], max_age)


@dataclass
class _Entry:
    alternative: Alternative
    expires: float


class AltSvcCache:
    """The h3 alternatives learned per origin during a run, and those that failed."""

    def __init__(self) -> None:
        self._alts: dict[Origin, _Entry] = {}
        self._broken: dict[Origin, tuple[float, float]] = {}  # until, the next period

    def learn(self, origin: Origin, value: str, now: float) -> None:
        """Take in the Alt-Svc field of one response from ORIGIN (its lines joined by commas)."""
        if not value.strip():
            return  # no Alt-Svc: what is kept stays (§3.1)
        alts = parse(value)
        # The new field replaces every alternative kept for the origin (§3.1);
        # of its h3 alternatives the first is the server's preference (§3).
        # ma=0 says the alternative is stale at once.
        h3 = [a for a in alts or [] if a.protocol == H3 and a.max_age > 0]
        if h3:
            self._alts[origin] = _Entry(h3[0], now + h3[0].max_age)
        else:
            self._alts.pop(origin, None)  # clear, or only other protocols

    def lookup(self, origin: Origin, now: float) -> Alternative | None:
        """The h3 alternative to try for a new connection to ORIGIN, if any and not broken."""
        entry = self._alts.get(origin)
        if entry is None or now >= entry.expires:
            return None
        broken = self._broken.get(origin)
        if broken is not None and now < broken[0]:
            return None
        return entry.alternative

    def mark_broken(self, origin: Origin, now: float) -> None:
        """ORIGIN's h3 alternative failed: use TCP for a while, longer each time."""
        period = self._broken.get(origin, (0.0, BROKEN_FOR))[1]
        self._broken[origin] = (now + period, period * 2)
