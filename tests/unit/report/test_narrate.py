"""Narration of what the capture cannot show: resolver decisions, a browser's own requests."""

from __future__ import annotations

from lab.report.narrate import narrate
from lab.report.narrate_dns import _step_text


def test_resolver_decision_without_a_server_is_told_as_such() -> None:
    """RFC 9156 relaxed mode has no server and no packet: no '?' where a server name would be."""
    step = {"server": None, "server_name": None, "zone": "com.", "qname": "google.com.",
            "result": "error", "detail": "NXDOMAIN for the minimised name: asking the full name "
            "(RFC 9156 relaxed mode)", "depth": 0}  # fmt: skip
    text = _step_text(step, False, [])
    assert "?" not in text
    assert text.startswith("The resolver did not take that answer as final: NXDOMAIN")


def test_browser_background_requests_in_one_section() -> None:
    """Requests to names outside the lab are told once, at the end, with their errors."""
    timeline = {
        "fetches": [
            {
                "url": "https://www.google.com/async",
                "host": "www.google.com",
                "started": 1.0,
                "error": "ERR_NAME_NOT_RESOLVED",
            },
            {
                "url": "http://clients2.google.com/time",
                "host": "clients2.google.com",
                "started": 1.1,
                "error": "ERR_NAME_NOT_RESOLVED",
            },
        ],  # fmt: skip
        "dns": [
            {
                "name": "www.google.com",
                "server": "198.51.100.53",
                "started": 1.0,
                "rcode": "NXDOMAIN",
            },
        ],  # fmt: skip
    }
    sections = narrate([], timeline, [])
    assert [s.title for s in sections] == ["Background requests the page did not make"]
    text = sections[0].paragraphs[0]
    assert "clients2.google.com, www.google.com" in text
    assert "answered NXDOMAIN" in text
    assert "ERR_NAME_NOT_RESOLVED" in text
    assert "before any connection was opened" in text


def test_lab_names_are_not_background() -> None:
    """A lab name's failed request stays in the story where it happened."""
    timeline = {"fetches": [{"url": "https://www.example.com/", "host": "www.example.com",
                             "started": 1.0, "error": "connection refused"}]}  # fmt: skip
    titles = [s.title for s in narrate([], timeline, [])]
    assert "Background requests the page did not make" not in titles
    assert any("www.example.com" in t for t in titles)


def test_each_step_told_under_its_own_heading() -> None:
    """Two browse steps: a heading each, with the HTTP version, and their requests beneath."""
    timeline = {
        "steps": [
            {"index": 1, "kind": "browse", "target": "https://www.example.com/", "started": 1.0,
             "finished": 2.0},
            {"index": 2, "kind": "browse", "target": "https://www.example.com/", "started": 3.0,
             "finished": 4.0},
        ],
        "fetches": [
            {"url": "https://www.example.com/", "host": "www.example.com", "started": 1.1,
             "step": 1, "http_version": "2", "reused_connection": True},
            {"url": "https://www.example.com/", "host": "www.example.com", "started": 3.1,
             "step": 2, "http_version": "3", "reused_connection": True},
        ],
    }  # fmt: skip
    sections = narrate([], timeline, [])
    heads = [s.title for s in sections if s.heading]
    assert heads == [
        "Step 1: browse https://www.example.com/, over HTTP/2",
        "Step 2: browse https://www.example.com/, over HTTP/3",
    ]
    titles = [s.title for s in sections]
    assert titles.index(heads[0]) < titles.index(heads[1])
    assert sum(1 for t in titles if t.startswith("HTTP: GET")) == 1
    assert sum(1 for t in titles if t.startswith("HTTP/3: GET")) == 1
