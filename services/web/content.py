"""The origin's content: virtual hosts, cache policy and conditional requests.

The site is small, so it is read into memory once at start (``load_site``);
everything after that is pure lookup, testable without a server.

Virtual hosts: ``www`` (the HTML pages) and ``static`` (CSS, JS, images, font).
Behind the edge the Host header is the origin's own name, so the public name
comes from X-Forwarded-Host, which only the edge can reach us with.
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

from services.common.hosts import normalize_host
from services.web.encoding import compress, compressible
from services.web.fingerprint import fingerprinted, rewrite

SITE_DIR = Path(__file__).parent / "site"

# Names the origin answers for, and which tree each one serves.
VHOSTS: Mapping[str, str] = {
    "www.example.com": "www",
    "example.com": "www",
    "origin.example.com": "www",
    "static.example.com": "static",
}

# The page may change, so caches keep it only briefly (RFC 9111 §5.2.2.1).
# Plain asset names may change content under the same URL: an hour. Fingerprinted
# names never do: a year and "immutable" (RFC 8246), so browsers skip revalidation.
HTML_CACHE = "public, max-age=5, stale-if-error=86400"  # RFC 5861: a fallback when origins fail
ASSET_CACHE = "public, max-age=3600"
IMMUTABLE_CACHE = "public, max-age=31536000, immutable"
NOT_FOUND_CACHE = "public, max-age=10"
ERROR_CACHE = "no-store"  # a 500 must not be replayed from a cache after the fix

_TYPES: Mapping[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",  # RFC 9239
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".woff2": "font/woff2",  # RFC 8081
    ".json": "application/json",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str  # strong validator, quoted (RFC 9110 §8.8.3)
    last_modified: str  # IMF-fixdate (RFC 9110 §5.6.7)
    cache_control: str
    encodings: Mapping[str, bytes] = field(default_factory=dict)  # coding -> body
    # Fonts are fetched in CORS mode even by <link>/@font-face (Fetch standard),
    # so a cross-origin font needs Access-Control-Allow-Origin.
    cors: bool = False

    @property
    def negotiated(self) -> bool:
        """Whether the body depends on Accept-Encoding (then Vary says so, RFC 9110 §12.5.5)."""
        return compressible(self.content_type)

    def variant(self, coding: str | None) -> tuple[bytes, str]:
        """Body and ETag of one representation: each coding has its own strong ETag
        (RFC 9110 §8.8.3: validators differ between content-codings)."""
        if coding is None:
            return self.body, self.etag
        return self.encodings[coding], f'{self.etag[:-1]}-{coding}"'


@dataclass(frozen=True)
class Site:
    trees: Mapping[str, Mapping[str, Asset]]  # vhost -> URL path -> asset
    not_found: Asset
    server_error: Asset
    renames: Mapping[str, str] = field(default_factory=dict)  # plain -> fingerprinted path


def make_asset(body: bytes, suffix: str, mtime: float, cache_control: str) -> Asset:
    content_type = _TYPES.get(suffix) or mimetypes.guess_type(f"x{suffix}")[0]
    content_type = content_type or "application/octet-stream"
    return Asset(
        body=body,
        content_type=content_type,
        etag='"' + hashlib.sha256(body).hexdigest()[:20] + '"',
        last_modified=formatdate(int(mtime), usegmt=True),
        cache_control=cache_control,
        encodings=compress(body) if compressible(content_type) else {},
        cors=suffix == ".woff2",
    )


def _files(root: Path) -> list[tuple[str, Path]]:
    return [
        ("/" + p.relative_to(root).as_posix(), p) for p in sorted(root.rglob("*")) if p.is_file()
    ]


def _load_static(root: Path) -> tuple[dict[str, Asset], dict[str, str]]:
    """Static assets under plain and fingerprinted names; CSS last, as it names the others."""
    tree: dict[str, Asset] = {}
    renames: dict[str, str] = {}
    files = sorted(_files(root), key=lambda item: item[1].suffix == ".css")
    for url, path in files:
        body = rewrite(path.read_bytes(), renames) if path.suffix == ".css" else path.read_bytes()
        mtime = path.stat().st_mtime
        renames[url] = fingerprinted(url, body)
        tree[url] = make_asset(body, path.suffix, mtime, ASSET_CACHE)
        tree[renames[url]] = make_asset(body, path.suffix, mtime, IMMUTABLE_CACHE)
    return tree, renames


def load_site(root: Path = SITE_DIR) -> Site:
    """Read every file under ``root/<vhost>/`` into memory, pages pointing at fingerprints."""
    static, renames = _load_static(root / "static")
    www: dict[str, Asset] = {}
    for url, path in _files(root / "www"):
        body = rewrite(path.read_bytes(), renames)
        policy = HTML_CACHE if path.suffix == ".html" else ASSET_CACHE
        www[url] = make_asset(body, path.suffix, path.stat().st_mtime, policy)

    def page(name: str, policy: str) -> Asset:
        path = root / "www" / name
        return make_asset(www[f"/{name}"].body, ".html", path.stat().st_mtime, policy)

    return Site(
        trees={"www": www, "static": static},
        not_found=page("404.html", NOT_FOUND_CACHE),
        server_error=page("500.html", ERROR_CACHE),
        renames=renames,
    )


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
    tree = site.trees[vhost]
    # Pretty URLs: /contact serves contact.html when there is no file named "contact".
    return tree.get(path) or (
        tree.get(path + ".html") if "." not in path.rsplit("/", 1)[-1] else None
    )


def _etag_listed(header: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 §13.1.2, §8.8.3.2)."""
    if header.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in header.split(","))


def not_modified(headers: Mapping[str, str], asset: Asset, etag: str | None = None) -> bool:
    """True when a GET/HEAD may be answered 304 (RFC 9110 §13.2.2 precedence).

    ``etag`` is the selected representation's (a compressed variant has its own).
    """
    inm = headers.get("If-None-Match")
    if inm is not None:
        # When If-None-Match is present, If-Modified-Since is ignored (§13.1.3).
        return _etag_listed(inm, etag or asset.etag)
    ims = headers.get("If-Modified-Since")
    if ims is None:
        return False
    try:
        since = parsedate_to_datetime(ims)
        modified = parsedate_to_datetime(asset.last_modified)
    except (TypeError, ValueError):
        return False  # an invalid date is ignored (§13.1.3)
    return modified <= since
