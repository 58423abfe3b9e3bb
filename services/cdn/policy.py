"""What a shared cache may store, serve, serve stale or must invalidate (RFC 9111, RFC 5861).

Pure functions from request and response fields to a decision with its reason
in words, so the edge can log it and the report can answer "why was this a
HIT?". Numbers (lifetimes, ages) come from freshness.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from yarl import URL

from services.cdn.freshness import (
    HEURISTIC_STATUSES,
    delta_seconds,
    explicit_lifetime,
    freshness_lifetime,
    parse_cache_control,
)

# §3: any final status may be stored when explicitly fresh (or public), except
# 206, which the edge does not combine (§3.3), and 304, which only updates (§4.3.4).
UNCACHED_STATUSES = frozenset({206, 304})
# §5.2.2.3 must-understand: the statuses whose caching semantics the edge knows.
UNDERSTOOD_STATUSES = HEURISTIC_STATUSES | {302, 303, 307, 400, 403, 500, 502, 503, 504}
# RFC 9110 §9.2.1: safe methods never invalidate.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# RFC 5861 §4: the errors for which stale-if-error may stand in.
ERROR_STATUSES = frozenset({500, 502, 503, 504})


@dataclass(frozen=True)
class Decision:
    ok: bool
    reason: str


def request_directives(request: Mapping[str, str]) -> dict[str, str | None]:
    """Request Cache-Control; ``Pragma: no-cache`` counts as no-cache only when there is
    no Cache-Control at all (§5.4)."""
    if "Cache-Control" in request:
        return parse_cache_control(request.get("Cache-Control"))
    if "Pragma" not in request:
        return {}
    pragma = {p.strip().lower() for p in request.get("Pragma", "").split(",")}
    return {"no-cache": None} if "no-cache" in pragma else {}


def has_validator(response: Mapping[str, str]) -> bool:
    return "ETag" in response or "Last-Modified" in response


def storable(
    method: str, status: int, request: Mapping[str, str], response: Mapping[str, str]
) -> Decision:
    """May a shared cache store this response? (RFC 9111 §3)"""
    req = request_directives(request)
    res = parse_cache_control(response.get("Cache-Control"))
    if method != "GET":
        return Decision(False, f"method {method} is not cached")
    explicit = explicit_lifetime(response, response_time=0.0)
    if status < 200 or status in UNCACHED_STATUSES:
        return Decision(False, f"status {status} is not cached")
    if "must-understand" in res and status not in UNDERSTOOD_STATUSES:
        return Decision(False, f"must-understand and status {status} is unknown (§5.2.2.3)")
    if status not in HEURISTIC_STATUSES and explicit is None and "public" not in res:
        return Decision(False, f"status {status} is not cached without explicit freshness")
    if "no-store" in req:
        return Decision(False, "request says no-store (§5.2.1.5)")
    if "no-store" in res:
        return Decision(False, "response says no-store (§5.2.2.5)")
    if "private" in res and res["private"] is None:
        return Decision(False, "response is private, a shared cache must not store it (§5.2.2.7)")
    if "Authorization" in request and not {"public", "s-maxage", "must-revalidate"} & set(res):
        return Decision(
            False,
            "request has Authorization and the response does not say "
            "public, s-maxage or must-revalidate (§3.5)",
        )
    if "Set-Cookie" in response and not {"public", "s-maxage"} & set(res):
        # Not an RFC rule (§7.3 leaves it to the cache): a CDN's policy, so one
        # user's cookie never reaches another unless the origin says so.
        return Decision(False, "response sets a cookie and is not marked public or s-maxage")
    if response.get("Vary", "").strip() == "*" or "*" in vary_names(response):
        return Decision(False, "Vary: * never matches a later request (§4.1)")
    lifetime = freshness_lifetime(response, response_time=0.0, status=status) or 0.0
    if "no-cache" in res:
        return Decision(True, "stored, but every use is revalidated: no-cache (§5.2.2.4)")
    if lifetime <= 0 and not has_validator(response):
        return Decision(False, "already stale and no validator to revalidate it with (§4.3.1)")
    if lifetime <= 0:
        return Decision(True, "stored stale, to be revalidated with its validator (§4.3)")
    how = "heuristic, 10% of Last-Modified age (§4.2.2)" if explicit is None else "explicit"
    return Decision(True, f"fresh for {lifetime:g}s ({how})")


def vary_names(response: Mapping[str, str]) -> tuple[str, ...]:
    names = {n.strip().lower() for n in response.get("Vary", "").split(",") if n.strip()}
    return tuple(sorted(names))


def stored_fields(response_cc: str | None) -> frozenset[str]:
    """Fields a shared cache must not keep: those named by qualified private and
    no-cache (§5.2.2.4, §5.2.2.7), lower-cased, plus Set-Cookie (our policy)."""
    res = parse_cache_control(response_cc)
    names = {"set-cookie"}
    for directive in ("private", "no-cache"):
        arg = res.get(directive)
        if arg:
            names |= {n.strip().lower() for n in arg.split(",") if n.strip()}
    return frozenset(names)


class Use(Enum):
    FRESH = "fresh"  # serve as a HIT
    STALE = "stale"  # serve stale, the client allowed it (max-stale)
    STALE_REVALIDATE = "swr"  # serve stale, refresh in the background (RFC 5861 §3)
    VALIDATE = "validate"  # ask the upstream first (§4.3)


@dataclass(frozen=True)
class Verdict:
    use: Use
    reason: str


def may_serve_stale(response: Mapping[str, str]) -> bool:
    """§4.2.4: must-revalidate, proxy-revalidate, s-maxage (§5.2.2.10) and no-cache
    forbid serving a stale response without validation."""
    res = parse_cache_control(response.get("Cache-Control"))
    return not {"must-revalidate", "proxy-revalidate", "s-maxage", "no-cache"} & set(res)


def evaluate(
    request: Mapping[str, str], response: Mapping[str, str], *, age: float, lifetime: float
) -> Verdict:
    """May a stored response with this age serve this request, and how? (§4.2, §5.2.1)"""
    req = request_directives(request)
    res = parse_cache_control(response.get("Cache-Control"))
    if "no-cache" in res:
        return Verdict(Use.VALIDATE, "response says no-cache (§5.2.2.4)")
    if "no-cache" in req:
        return Verdict(Use.VALIDATE, "request says no-cache (§5.2.1.4, §5.4)")
    if "max-age" in req:
        max_age = delta_seconds(req["max-age"])
        if max_age is None or age > max_age:
            return Verdict(Use.VALIDATE, f"age {age:.0f}s exceeds request max-age (§5.2.1.1)")
    if "min-fresh" in req:
        min_fresh = delta_seconds(req["min-fresh"]) or 0
        if lifetime - age < min_fresh:
            return Verdict(Use.VALIDATE, f"fresh for less than min-fresh={min_fresh} (§5.2.1.3)")
    if age < lifetime:
        return Verdict(Use.FRESH, f"fresh: age {age:.0f}s of {lifetime:g}s")
    staleness = age - lifetime
    if may_serve_stale(response):
        if "max-stale" in req:
            allowed = delta_seconds(req["max-stale"])
            if req["max-stale"] is None or (allowed is not None and staleness <= allowed):
                return Verdict(
                    Use.STALE, f"stale by {staleness:.0f}s, request allows max-stale (§5.2.1.2)"
                )
        swr = delta_seconds(res.get("stale-while-revalidate"))
        if swr is not None and staleness < swr:
            return Verdict(
                Use.STALE_REVALIDATE,
                f"stale by {staleness:.0f}s, within stale-while-revalidate={swr} (RFC 5861 §3)",
            )
    return Verdict(Use.VALIDATE, f"stale: age {age:.0f}s, lifetime {lifetime:g}s")


def stale_if_error(
    request: Mapping[str, str], response: Mapping[str, str], *, staleness: float
) -> Decision:
    """May a stale response stand in for an upstream error? (RFC 5861 §4, RFC 9111 §4.2.4)"""
    if not may_serve_stale(response):
        return Decision(False, "stored response forbids serving stale (§4.2.4)")
    for source, cc in (
        ("request", request_directives(request)),
        ("response", parse_cache_control(response.get("Cache-Control"))),
    ):
        allowed = delta_seconds(cc.get("stale-if-error"))
        if allowed is not None and staleness <= allowed:
            return Decision(
                True,
                f"stale by {staleness:.0f}s, within {source} "
                f"stale-if-error={allowed} (RFC 5861 §4)",
            )
    return Decision(False, "no stale-if-error allows it")


def invalidated_targets(
    method: str, status: int, *, public_host: str, target: str, response: Mapping[str, str]
) -> list[str]:
    """Request targets to invalidate after an unsafe method (§4.4): the target URI, and
    Location / Content-Location when they name the same origin; only for non-error
    responses."""
    if method in SAFE_METHODS or not 200 <= status < 400:
        return []
    base = URL(f"https://{public_host}{target}", encoded=True)
    targets = [target]
    for name in ("Location", "Content-Location"):
        value = response.get(name)
        if not value:
            continue
        try:
            url = base.join(URL(value))
        except ValueError:
            continue
        if url.host and url.host.lower() == public_host.lower():
            targets.append(url.raw_path_qs)
    return list(dict.fromkeys(targets))
