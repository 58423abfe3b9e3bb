"""What the Chromium step reads from a NetLog: URLs, HTTP/2 sessions, lookups, cache hits."""

from __future__ import annotations

from services.client.chromium import summarize_netlog

TYPES = {"URL_REQUEST_START_JOB": 1, "HTTP2_SESSION": 2, "HOST_RESOLVER_MANAGER_REQUEST": 3,
         "HOST_RESOLVER_MANAGER_CACHE_HIT": 4, "SOCKET_BYTES_SENT": 5}  # fmt: skip


def event(kind: str, **params: object) -> dict[str, object]:
    return {"type": TYPES[kind], "params": params}


NETLOG = {
    "constants": {"logEventTypes": TYPES},
    "events": [
        event("HOST_RESOLVER_MANAGER_REQUEST", host="https://clients2.google.com"),
        event("URL_REQUEST_START_JOB", url="https://www.example.com/"),
        event("HOST_RESOLVER_MANAGER_REQUEST", host="https://www.example.com"),
        event("HTTP2_SESSION", host="www.example.com:443"),
        event("URL_REQUEST_START_JOB", url="https://static.example.com/css/site.css"),
        event("HOST_RESOLVER_MANAGER_REQUEST", host="https://static.example.com"),
        event("HOST_RESOLVER_MANAGER_CACHE_HIT"),
        event("HTTP2_SESSION", host="static.example.com:443"),
        event("SOCKET_BYTES_SENT", byte_count=10),
    ],
}


def test_urls_and_lab_urls() -> None:
    """Every URL requested, and those on the lab's own names apart."""
    s = summarize_netlog(NETLOG)
    assert s["urls"] == ["https://www.example.com/", "https://static.example.com/css/site.css"]
    assert s["lab_urls"] == s["urls"]


def test_h2_sessions_and_lookups() -> None:
    """HTTP/2 sessions by host; names looked up; the vendor's names picked out."""
    s = summarize_netlog(NETLOG)
    assert s["h2_hosts"] == ["static.example.com", "www.example.com"]
    assert s["looked_up"] == ["clients2.google.com", "static.example.com", "www.example.com"]
    assert s["vendor_lookups"] == ["clients2.google.com"]
    assert s["dns_cache_hits"] == 1


def test_an_empty_netlog_says_nothing_happened() -> None:
    """No events: no URLs, no sessions (the step then fails on its own check)."""
    s = summarize_netlog({"constants": {"logEventTypes": {}}, "events": []})
    assert s["urls"] == []
    assert s["h2_hosts"] == []
