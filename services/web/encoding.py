"""Content codings: which one to send (RFC 9110 §12.5.3) and making them (gzip, br).

The site is small and static, so every compressible asset is compressed once
at start, at the highest level; a request only picks a ready-made variant.
Brotli (RFC 7932) is used when the ``brotli`` package is installed.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping

try:
    import brotli
except ImportError:  # optional: without it the origin offers gzip only
    brotli = None

# Server preference when the client weighs codings equally: br is smaller.
PREFERENCE: tuple[str, ...] = ("br", "gzip") if brotli is not None else ("gzip",)
# Below this, headers and framing cost more than compression saves.
MIN_SIZE = 200
COMPRESSIBLE = ("text/", "image/svg+xml", "application/json", "application/javascript")


def compressible(content_type: str) -> bool:
    return content_type.startswith(COMPRESSIBLE)


def compress(body: bytes) -> dict[str, bytes]:
    """Every coding that makes ``body`` smaller; ``mtime=0`` keeps gzip output stable."""
    out: dict[str, bytes] = {}
    if len(body) < MIN_SIZE:
        return out
    made = {"gzip": gzip.compress(body, compresslevel=9, mtime=0)}
    if brotli is not None:
        made["br"] = brotli.compress(body, quality=11)
    for coding, data in made.items():
        if len(data) < len(body):
            out[coding] = data
    return out


def parse_accept_encoding(header: str) -> dict[str, float]:
    """coding -> qvalue (RFC 9110 §12.4.2); malformed weights count as 0."""
    weights: dict[str, float] = {}
    for item in header.split(","):
        coding, *params = (part.strip() for part in item.split(";"))
        if not coding:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        weights[coding.lower()] = q
    return weights


def choose(header: str | None, available: Mapping[str, bytes]) -> str | None:
    """The coding to send, or None for identity."""
    if not header or not available:
        return None
    weights = parse_accept_encoding(header)
    star = weights.get("*", 0.0)
    best: tuple[float, int, str] | None = None
    for rank, coding in enumerate(PREFERENCE):
        if coding not in available:
            continue
        q = weights.get(coding, star)
        if q > 0 and (best is None or (q, -rank) > best[:2]):
            best = (q, -rank, coding)
    return best[2] if best else None
