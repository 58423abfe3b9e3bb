"""The browser's cookie jar: what Set-Cookie stores and which cookies a request carries; no I/O.

A subset of RFC 6265 §5, enough for the lab's sites: host-only and Domain
cookies, Path, Secure, and removal by Max-Age or Expires in the past. Every
cookie otherwise lasts as long as the browser process (a run), so expiry
dates in the future are not tracked. HttpOnly and SameSite restrict scripts
and cross-site requests, neither of which this browser makes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class Cookie:
    name: str
    value: str
    domain: str
    host_only: bool
    path: str
    secure: bool


def default_path(request_path: str) -> str:
    """The directory of the request's path (RFC 6265 §5.1.4)."""
    path = request_path.split("?", 1)[0]
    if not path.startswith("/") or path.count("/") == 1:
        return "/"
    return path[: path.rindex("/")]


def path_match(request_path: str, cookie_path: str) -> bool:
    """RFC 6265 §5.1.4: the same path, or one below it."""
    path = request_path.split("?", 1)[0] or "/"
    if path == cookie_path:
        return True
    return path.startswith(cookie_path) and (
        cookie_path.endswith("/") or path[len(cookie_path)] == "/"
    )


def domain_match(host: str, domain: str) -> bool:
    """RFC 6265 §5.1.3: the same name, or a name under it."""
    return host == domain or host.endswith("." + domain)


def _expired(attrs: dict[str, str], now: float) -> bool:
    # Max-Age wins over Expires (RFC 6265 §5.3 step 3).
    if "max-age" in attrs:
        try:
            return int(attrs["max-age"]) <= 0
        except ValueError:
            return False
    if "expires" in attrs:
        try:
            return parsedate_to_datetime(attrs["expires"]).timestamp() <= now
        except (TypeError, ValueError):
            return False
    return False


class Jar:
    """Cookies kept across the requests and visits of one run, safe to share between threads."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._cookies: dict[tuple[str, str, str], Cookie] = {}  # in the order first set

    def receive(self, host: str, request_path: str, fields: Sequence[tuple[str, str]]) -> None:
        """Store (or remove) what each Set-Cookie field of a response from HOST says."""
        for name, value in fields:
            if name.lower() == "set-cookie":
                self._set(host, request_path, value)

    def _set(self, host: str, request_path: str, line: str) -> None:
        pair, *rest = line.split(";")
        if "=" not in pair:
            return  # RFC 6265 §5.2: a cookie without "=" is ignored
        name, value = (part.strip() for part in pair.split("=", 1))
        if not name:
            return
        attrs: dict[str, str] = {}
        for item in rest:
            attr, _, val = item.partition("=")
            attrs[attr.strip().lower()] = val.strip()
        domain = attrs.get("domain", "").lstrip(".").lower()
        if domain and not domain_match(host, domain):
            return  # §5.3 step 6: a server may not set cookies for another site
        path = attrs.get("path", "")
        cookie = Cookie(
            name,
            value,
            domain or host,
            host_only=not domain,
            path=path if path.startswith("/") else default_path(request_path),
            secure="secure" in attrs,
        )
        key = (cookie.domain, cookie.path, cookie.name)
        with self._lock:
            if _expired(attrs, self.clock()):
                self._cookies.pop(key, None)
            else:
                self._cookies[key] = cookie

    def header(self, host: str, path: str, secure: bool = True) -> str:
        """The Cookie field for a request to HOST and PATH, "" when none applies (§5.4)."""
        with self._lock:
            cookies = [
                c
                for c in self._cookies.values()
                if (c.domain == host if c.host_only else domain_match(host, c.domain))
                and path_match(path, c.path)
                and (secure or not c.secure)
            ]
        # Longer paths first; among equals, the order they were first set (§5.4 step 2).
        cookies.sort(key=lambda c: -len(c.path))
        return "; ".join(f"{c.name}={c.value}" for c in cookies)
