"""The origin's content: virtual hosts, cache policy and conditional requests.

The site is small, so it is read into memory once at start (``load_site``);
everything after that is pure lookup, testable without a server.

Virtual hosts: ``www`` (the HTML pages) and ``static`` (CSS, JS, images).
Behind the edge the Host header is the origin's own name, so the public name
comes from X-Forwarded-Host, which only the edge can reach us with.
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

SITE_DIR = Path(__file__).parent / "site"

# Names the origin answers for, and which tree each one serves.
VHOSTS: Mapping[str, str] = {
    "www.example.com": "www",
    "example.com": "www",
    "origin.example.com": "www",
    "static.example.com": "static",
}

# The page may change, so caches keep it only briefly; the assets are stable
# (RFC 9111 §5.2.2.1 max-age). Names are not fingerprinted, hence no
# "immutable" (RFC 8246).
HTML_CACHE = "public, max-age=60"
ASSET_CACHE = "public, max-age=3600"
NOT_FOUND_CACHE = "public, max-age=10"

_TYPES: Mapping[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",  # RFC 9239
    ".svg": "image/svg+xml",
    ".json": "application/json",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str  # strong validator, quoted (RFC 9110 §8.8.3)
    last_modified: str  # IMF-fixdate (RFC 9110 §5.6.7)
    cache_control: str


@dataclass(frozen=True)
class Site:
    trees: Mapping[str, Mapping[str, Asset]]  # vhost -> URL path -> asset
    not_found: Asset


def make_asset(body: bytes, suffix: str, mtime: float, cache_control: str) -> Asset:
    content_type = _TYPES.get(suffix) or mimetypes.guess_type(f"x{suffix}")[0]
    return Asset(body=body, content_type=content_type or "application/octet-stream",
                 etag='"' + hashlib.sha256(body).hexdigest()[:20] + '"',
                 last_modified=formatdate(int(mtime), usegmt=True),
                 cache_control=cache_control)


def load_site(root: Path = SITE_DIR) -> Site:
    """Read every file under ``root/<vhost>/`` into memory."""
    trees: dict[str, dict[str, Asset]] = {}
    for vhost in sorted(set(VHOSTS.values())):
        tree: dict[str, Asset] = {}
        for path in sorted((root / vhost).rglob("*")):
            if path.is_file():
                policy = HTML_CACHE if path.suffix == ".html" else ASSET_CACHE
                url = "/" + path.relative_to(root / vhost).as_posix()
                tree[url] = make_asset(path.read_bytes(), path.suffix, path.stat().st_mtime,
                                       policy)
        trees[vhost] = tree
    page = root / "www" / "404.html"
    not_found = make_asset(page.read_bytes(), ".html", page.stat().st_mtime, NOT_FOUND_CACHE)
    return Site(trees=trees, not_found=not_found)


def normalize_host(value: str) -> str:
    """``WWW.Example.COM.:443`` -> ``www.example.com`` (RFC 9110 §4.2.3: case-insensitive)."""
    host = value.strip().lower()
    if host.startswith("["):  # IPv6 literal
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0].rstrip(".") if ":" in host else host.rstrip(".")


def public_host(headers: Mapping[str, str]) -> str:
    """The name the user asked for: X-Forwarded-Host (first hop) or else Host."""
    forwarded = headers.get("X-Forwarded-Host", "")
    if forwarded:
        return normalize_host(forwarded.split(",")[0])
    return normalize_host(headers.get("Host", ""))


def lookup(site: Site, host: str, path: str) -> Asset | None:
    """The asset for ``path`` on ``host``; ``/`` and directories mean index.html."""
    vhost = VHOSTS.get(host)
    if vhost is None:
        return None
    if path.endswith("/"):
        path += "index.html"
    return site.trees[vhost].get(path)


def _etag_listed(header: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 §13.1.2, §8.8.3.2)."""
    if header.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in header.split(","))


def not_modified(headers: Mapping[str, str], asset: Asset) -> bool:
    """True when a GET/HEAD may be answered 304 (RFC 9110 §13.2.2 precedence)."""
    inm = headers.get("If-None-Match")
    if inm is not None:
        # When If-None-Match is present, If-Modified-Since is ignored (§13.1.3).
        return _etag_listed(inm, asset.etag)
    ims = headers.get("If-Modified-Since")
    if ims is None:
        return False
    try:
        since = parsedate_to_datetime(ims)
        modified = parsedate_to_datetime(asset.last_modified)
    except (TypeError, ValueError):
        return False  # an invalid date is ignored (§13.1.3)
    return modified <= since
