"""services.client.cookies: which Set-Cookie fields the jar keeps and which requests carry them."""

from __future__ import annotations

import pytest

from services.client.cookies import Jar, default_path, path_match

NOW = 1_800_000_000.0


def jar_with(host: str, path: str, *lines: str) -> Jar:
    jar = Jar(lambda: NOW)
    jar.receive(host, path, [("Set-Cookie", line) for line in lines])
    return jar


def test_host_only_cookie_stays_with_its_host() -> None:
    """A cookie without Domain goes back to the host that set it and to no other."""
    jar = jar_with("www.example.com", "/", "sid=1; Path=/")
    assert jar.header("www.example.com", "/") == "sid=1"
    assert jar.header("static.example.com", "/") == ""


def test_domain_cookie_reaches_sibling_hosts() -> None:
    """Domain=example.com (a leading dot ignored) covers every name under example.com."""
    jar = jar_with("www.example.com", "/", "sid=1; Domain=.example.com")
    assert jar.header("static.example.com", "/x") == "sid=1"
    assert jar.header("example.net", "/") == ""


def test_cookie_for_another_site_is_refused() -> None:
    """A Domain the setting host is not under is ignored (RFC 6265 §5.3 step 6)."""
    jar = jar_with("www.example.com", "/", "sid=1; Domain=example.net")
    assert jar.header("www.example.net", "/") == ""
    assert jar.header("www.example.com", "/") == ""


@pytest.mark.parametrize(
    ("request_path", "cookie_path", "match"),
    [
        ("/a/b", "/a", True),
        ("/a", "/a", True),
        ("/a/", "/a/", True),
        ("/ab", "/a", False),
        ("/", "/a", False),
        ("/a/b?q=1", "/a/b", True),
    ],
)
def test_path_match(request_path: str, cookie_path: str, match: bool) -> None:
    """A cookie path covers itself and the paths below it, not a longer sibling name."""
    assert path_match(request_path, cookie_path) is match


def test_default_path_is_the_request_directory() -> None:
    """Without Path, a cookie set by /account/login belongs to /account (RFC 6265 §5.1.4)."""
    assert default_path("/account/login") == "/account"
    assert default_path("/login") == "/"
    jar = jar_with("www.example.com", "/account/login", "sid=1")
    assert jar.header("www.example.com", "/account/x") == "sid=1"
    assert jar.header("www.example.com", "/other") == ""


@pytest.mark.parametrize(
    "gone", ["sid=2; Max-Age=0", "sid=2; Expires=Thu, 01 Jan 1970 00:00:00 GMT"]
)
def test_expired_set_cookie_removes_the_cookie(gone: str) -> None:
    """Max-Age=0 or an Expires in the past deletes the stored cookie of that name."""
    jar = jar_with("www.example.com", "/", "sid=1", gone)
    assert jar.header("www.example.com", "/") == ""


def test_secure_cookie_not_sent_in_clear() -> None:
    """A Secure cookie is sent only on secure requests."""
    jar = jar_with("www.example.com", "/", "sid=1; Secure")
    assert jar.header("www.example.com", "/", secure=False) == ""
    assert jar.header("www.example.com", "/") == "sid=1"


def test_longer_paths_first_and_replacement_in_place() -> None:
    """The Cookie field lists longer paths first; a cookie set again keeps its place."""
    jar = jar_with("www.example.com", "/", "a=1; Path=/", "b=2; Path=/x", "c=3; Path=/", "a=9")
    assert jar.header("www.example.com", "/x/y") == "b=2; a=9; c=3"
