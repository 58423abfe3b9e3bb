"""HTTP caching rules for a shared cache (RFC 9111), without any I/O.

Every decision comes with a reason in words, so the edge can log it and the
report can answer "why was this a HIT?". Deliberate simplifications, each
allowed by the RFC: only 200 responses to GET are stored (§3 lets a cache
choose), no heuristic freshness (§4.2.2 "may"; the lab wants predictable
results), and a response that needs validation on every use (no-cache) is not
stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

# §1.2.2: delta-seconds too large to represent are taken as 2**31.
MAX_DELTA = 2**31

_DIRECTIVE = re.compile(
    r"""\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^,\s]*))?\s*(?:,|$)""")


def parse_cache_control(value: str | None) -> dict[str, str | None]:
    """Directives (names lower-cased, §5.2) to their argument, unquoted; None if bare."""
    directives: dict[str, str | None] = {}
    if not value:
        return directives
    for match in _DIRECTIVE.finditer(value):
        name, arg = match.group(1).lower(), match.group(2)
        if arg is not None and arg.startswith('"'):
            arg = re.sub(r"\\(.)", r"\1", arg[1:-1])
        directives.setdefault(name, arg)  # first occurrence wins on duplicates
    return directives


def delta_seconds(arg: str | None) -> int | None:
    """A delta-seconds argument (§1.2.2); None when absent or not a number."""
    if arg is None or not arg.isdigit():
        return None
    return min(int(arg), MAX_DELTA)


def http_date(value: str | None) -> float | None:
    """An HTTP-date as a POSIX time; None when absent or invalid (RFC 9110 §5.6.7)."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Decision:
    ok: bool
    reason: str


def storable(method: str, status: int, request: Mapping[str, str],
             response: Mapping[str, str]) -> Decision:
    """May a shared cache store this response? (RFC 9111 §3)"""
    req = parse_cache_control(request.get("Cache-Control"))
    res = parse_cache_control(response.get("Cache-Control"))
    if method != "GET":
        return Decision(False, f"method {method} is not cached")
    if status != 200:
        return Decision(False, f"status {status} is not cached")
    if "no-store" in req:
        return Decision(False, "request says no-store (§5.2.1.5)")
    if "no-store" in res:
        return Decision(False, "response says no-store (§5.2.2.5)")
    if "private" in res:
        return Decision(False, "response is private, a shared cache must not store it (§5.2.2.7)")
    if "no-cache" in res:
        return Decision(False, "response says no-cache: every use needs validation (§5.2.2.4)")
    if "Authorization" in request and not {"public", "s-maxage", "must-revalidate"} & set(res):
        return Decision(False, "request has Authorization and the response does not say "
                               "public, s-maxage or must-revalidate (§3.5)")
    if "Set-Cookie" in response:
        # Not an RFC rule: a CDN's policy, so one user's cookie never reaches another.
        return Decision(False, "response sets a cookie")
    if response.get("Vary", "").strip() == "*":
        return Decision(False, "Vary: * never matches a later request (§4.1)")
    lifetime = freshness_lifetime(response, response_time=0.0)
    if lifetime is None:
        return Decision(False, "no explicit freshness (max-age, s-maxage or Expires)")
    if lifetime <= 0:
        return Decision(False, "response is already stale")
    return Decision(True, f"fresh for {lifetime:g}s")


def freshness_lifetime(response: Mapping[str, str], *, response_time: float) -> float | None:
    """Seconds the response stays fresh in a shared cache (§4.2.1); None if not stated."""
    res = parse_cache_control(response.get("Cache-Control"))
    for name in ("s-maxage", "max-age"):  # s-maxage overrides max-age in a shared cache
        if name in res:
            seconds = delta_seconds(res[name])
            return 0.0 if seconds is None else float(seconds)  # invalid: treat as stale
    if "Expires" in response:
        expires = http_date(response["Expires"])
        if expires is None:
            return 0.0  # §5.3: an invalid Expires means "already expired"
        date = http_date(response.get("Date"))
        return max(0.0, expires - (date if date is not None else response_time))
    return None


def current_age(response: Mapping[str, str], *, request_time: float, response_time: float,
                now: float) -> float:
    """The response's age now (§4.2.3), counting upstream caches and transit time."""
    age_value = float(delta_seconds(response.get("Age")) or 0)
    date_value = http_date(response.get("Date"))
    apparent_age = max(0.0, response_time - date_value) if date_value is not None else 0.0
    response_delay = response_time - request_time
    corrected_age_value = age_value + response_delay
    corrected_initial_age = max(apparent_age, corrected_age_value)
    resident_time = now - response_time
    return corrected_initial_age + resident_time


def usable(request: Mapping[str, str], *, age: float, lifetime: float) -> Decision:
    """May a stored response with this age serve this request? (§4.2, §5.2.1)"""
    req = parse_cache_control(request.get("Cache-Control"))
    if "no-cache" in req:
        return Decision(False, "request says no-cache (§5.2.1.4)")
    if "no-store" in req:
        return Decision(False, "request says no-store (§5.2.1.5)")
    max_age = delta_seconds(req.get("max-age")) if "max-age" in req else None
    if max_age is not None and age > max_age:
        return Decision(False, f"age {age:.0f}s exceeds request max-age={max_age} (§5.2.1.1)")
    min_fresh = delta_seconds(req.get("min-fresh")) or 0
    if age + min_fresh >= lifetime:
        return Decision(False, f"stale: age {age:.0f}s, lifetime {lifetime:g}s")
    return Decision(True, f"fresh: age {age:.0f}s of {lifetime:g}s")


def etag_matches(if_none_match: str, etag: str | None) -> bool:
    """If-None-Match against a stored ETag, weak comparison (RFC 9110 §13.1.2)."""
    if if_none_match.strip() == "*":
        return etag is not None
    if etag is None:
        return False
    opaque = etag.removeprefix("W/")
    return any(t.strip().removeprefix("W/") == opaque for t in if_none_match.split(","))
