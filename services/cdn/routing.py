"""Which upstream serves a public name, and how headers cross the edge; no I/O.

A route maps a public host to an upstream base URL: ``www.example.com=
https://origin.example.com``. The edge connects to the upstream by its own
name (SNI, certificate check and Host all say origin.example.com), exactly as a
CDN reaches an origin, and tells the origin the public name in
X-Forwarded-Host. ``--resolve`` (curl's syntax, HOST:PORT:ADDRESS) pins an
upstream name to an address without DNS, which is how the tests point
``https://origin.example.com:PORT`` at 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

from multidict import CIMultiDict
from yarl import URL

from services.common.hosts import normalize_host

VIA_NAME = "edge.edgecdn.net"
VIA = f"1.1 {VIA_NAME}"  # RFC 9110 §7.6.3: protocol version and a pseudonym

# RFC 9110 §7.6.1: connection-specific fields a proxy must not forward, plus
# those a proxy re-frames itself (RFC 9112 §6: length and transfer coding).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "host",
    }
)


class RouteError(ValueError):
    """A --route or --resolve value that cannot be used."""


@dataclass(frozen=True)
class Route:
    public_host: str
    upstreams: tuple[URL, ...]  # scheme://name[:port][/base], no query; tried in turn

    @property
    def upstream(self) -> URL:
        return self.upstreams[0]

    @cached_property
    def upstream_label(self) -> str:
        return ",".join(label(u) for u in self.upstreams)

    def target(self, raw_path_qs: str, upstream: URL | None = None) -> URL:
        """The upstream URL for a request target, bytes kept as the client sent them."""
        base = str(upstream or self.upstream).rstrip("/")
        return URL(base + raw_path_qs, encoded=True)


def label(upstream: URL) -> str:
    return f"{upstream.host}:{upstream.port}"


def parse_route(spec: str, *, allow_http: bool = False) -> Route:
    """``PUBLIC=https://a[,https://b...]``; plain http upstreams only when allowed
    (the edge's --plain test mode)."""
    public, sep, upstream = spec.partition("=")
    if not sep or not public.strip() or not upstream.strip():
        raise RouteError(f"route {spec!r}: expected PUBLIC_HOST=https://UPSTREAM[:PORT]")
    schemes = ("https", "http") if allow_http else ("https",)
    urls = []
    for part in upstream.split(","):
        url = URL(part.strip())
        if url.scheme not in schemes or not url.host:
            raise RouteError(f"route {spec!r}: the upstream must be an https:// URL")
        if url.query_string or url.fragment:
            raise RouteError(f"route {spec!r}: the upstream URL may not have a query or fragment")
        urls.append(url)
    return Route(public_host=normalize_host(public), upstreams=tuple(urls))


def parse_resolve(spec: str) -> tuple[str, int, str]:
    """``origin.example.com:8443:127.0.0.1`` -> (name, port, address), as curl --resolve."""
    parts = spec.split(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        raise RouteError(f"resolve {spec!r}: expected HOST:PORT:ADDRESS")
    return parts[0].lower().rstrip("."), int(parts[1]), parts[2].strip("[]")


class Router:
    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes: dict[str, Route] = {}
        for route in routes:
            if route.public_host in self.routes:
                raise RouteError(f"two routes for {route.public_host}")
            self.routes[route.public_host] = route

    def match(self, host_header: str) -> Route | None:
        return self.routes.get(normalize_host(host_header))


def _connection_tokens(headers: Mapping[str, str]) -> set[str]:
    """Extra hop-by-hop names listed in Connection (RFC 9110 §7.6.1)."""
    value = ",".join(v for k, v in headers.items() if k.lower() == "connection")
    return {t.strip().lower() for t in value.split(",") if t.strip()}


def end_to_end(headers: Mapping[str, str]) -> CIMultiDict[str]:
    """A copy of ``headers`` without hop-by-hop fields.

    With a multidict, ``items()`` yields every repeated field, so all are kept.
    """
    drop = HOP_BY_HOP | _connection_tokens(headers)
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in drop)


def upstream_request_headers(
    incoming: Mapping[str, str], *, public_host: str, client_ip: str | None, proto: str = "https"
) -> CIMultiDict[str]:
    """Headers the edge sends upstream: the client's, plus where the request came from."""
    out = end_to_end(incoming)
    prior_for = ", ".join(out.popall("X-Forwarded-For", []))
    out["X-Forwarded-For"] = ", ".join(p for p in (prior_for, client_ip or "unknown") if p)
    out["X-Forwarded-Proto"] = proto
    # The edge is the trust boundary: a client's own X-Forwarded-Host is replaced.
    out["X-Forwarded-Host"] = public_host
    append_via(out)
    return out


def append_via(headers: CIMultiDict[str]) -> None:
    """Add this hop to Via, keeping earlier hops first (RFC 9110 §7.6.3)."""
    prior = ", ".join(headers.popall("Via", []))
    headers["Via"] = f"{prior}, {VIA}" if prior else VIA


def loop_detected(incoming: Mapping[str, str]) -> bool:
    """A request that already passed this edge is a routing loop (RFC 9110 §7.6.3)."""
    via = ",".join(v for k, v in incoming.items() if k.lower() == "via")
    return any(hop.strip().endswith(VIA_NAME) for hop in via.split(","))
