"""Request framing checks against smuggling (RFC 9112 §6.1, §6.3); no I/O.

A proxy and its upstream must agree where a request ends. aiohttp's parser
already rejects most ambiguous framing (both Content-Length and
Transfer-Encoding, duplicate Content-Length); this check is the edge's own
rule, applied whatever parser is in use, before anything is forwarded.
"""

from __future__ import annotations

from collections.abc import Iterable


def framing_problem(
    version: tuple[int, int], headers: Iterable[tuple[str, str]]
) -> tuple[int, str] | None:
    """(status, reason) when the request's framing is ambiguous or unsupported."""
    lengths: list[str] = []
    codings: list[str] = []
    for name, value in headers:
        low = name.lower()
        if low == "content-length":
            lengths.extend(v.strip() for v in value.split(","))
        elif low == "transfer-encoding":
            codings.extend(v.strip().lower() for v in value.split(",") if v.strip())
    if codings and lengths:
        # §6.3: a sender must not send both; a proxy must not forward such a message.
        return 400, "both Transfer-Encoding and Content-Length"
    if len(set(lengths)) > 1:
        return 400, "differing Content-Length values"
    if lengths and not lengths[0].isdigit():
        return 400, "invalid Content-Length"
    if codings and version < (1, 1):
        # §6.1: Transfer-Encoding in HTTP/1.0 means the framing is faulty.
        return 400, "Transfer-Encoding in an HTTP/1.0 request"
    if codings and codings != ["chunked"]:
        # §6.1: a coding the edge does not apply itself is not passed on blindly.
        return 501, f"unsupported Transfer-Encoding {', '.join(codings)}"
    return None
