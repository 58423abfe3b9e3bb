"""Validation: the edge's conditional requests upstream, 304 freshening, and answering
clients' own conditionals from a stored response (RFC 9111 §4.3, RFC 9110 §13); no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from services.cdn.freshness import http_date

Headers = tuple[tuple[str, str], ...]

# §3.2: fields a 304 must not overwrite in the stored response: those describing
# the stored content itself (its framing, coding, digest and validator: the 304
# answered the edge's conditional for exactly this content), and the edge's own
# per-hop additions.
NOT_UPDATED = frozenset(
    {
        "content-length",
        "content-encoding",
        "content-range",
        "content-md5",
        "etag",
        "transfer-encoding",
        "x-cache",
        "cache-status",
    }
)


def etag_matches(if_none_match: str, etag: str | None) -> bool:
    """If-None-Match against a stored ETag, weak comparison (RFC 9110 §13.1.2)."""
    if if_none_match.strip() == "*":
        return etag is not None
    if etag is None:
        return False
    opaque = etag.strip().removeprefix("W/")
    return any(t.strip().removeprefix("W/") == opaque for t in if_none_match.split(","))


def conditional_headers(stored: Mapping[str, str]) -> dict[str, str]:
    """Validators for revalidating a stored response (§4.3.1): its ETag as If-None-Match,
    its Last-Modified as If-Modified-Since."""
    out: dict[str, str] = {}
    if stored.get("ETag"):
        out["If-None-Match"] = stored["ETag"]
    if stored.get("Last-Modified"):
        out["If-Modified-Since"] = stored["Last-Modified"]
    return out


def freshen(
    stored: Headers, update: Iterable[tuple[str, str]], excluded: frozenset[str] = frozenset()
) -> Headers:
    """Stored fields updated from a 304 (or HEAD) response (§3.2, §4.3.4): each field
    the update carries replaces the stored one; the rest are kept."""
    fresh: dict[str, list[tuple[str, str]]] = {}
    for name, value in update:
        low = name.lower()
        if low in NOT_UPDATED or low in excluded:
            continue
        fresh.setdefault(low, []).append((name, value))
    # The stored Age described the old response; the new one's (if any) replaces it.
    kept = [(n, v) for n, v in stored if n.lower() not in fresh and n.lower() != "age"]
    return tuple(kept + [pair for pairs in fresh.values() for pair in pairs])


def not_modified(request: Mapping[str, str], stored: Mapping[str, str]) -> bool:
    """May the edge answer the client's conditional GET/HEAD with 304? (RFC 9110 §13.2.2;
    RFC 9111 §4.3.2). If-None-Match decides when present; else If-Modified-Since
    against Last-Modified, or Date when there is none."""
    inm = request.get("If-None-Match")
    if inm is not None:
        return etag_matches(inm, stored.get("ETag"))
    since = http_date(request.get("If-Modified-Since"))
    if since is None:
        return False
    modified = http_date(stored.get("Last-Modified")) or http_date(stored.get("Date"))
    return modified is not None and modified <= since
