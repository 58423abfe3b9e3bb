"""The sequence diagram's layout and folding, on hand-made messages (no tshark)."""

import re

import pytest

from lab.report.packets import HttpInfo, Message
from lab.report.repeats import Fold, fold_repeats
from lab.report.sequence import LEFT, column_width, fit_text, lifeline_heads, sequence_html
from lab.topology import BY_SERVICE, HOSTS

CLIENT = BY_SERVICE["client"].ipv4
EDGE = BY_SERVICE["edge"].ipv4


def _get(frame: int, t: float, uri: str = "/", method: str = "GET", stream: int = 2) -> Message:
    info = HttpInfo(request=True, method=method, uri=uri, version="HTTP/1.1")
    return Message(frame, t, CLIENT, EDGE, "http", "request", f"{method} {uri}", stream, http=info)


def _ok(frame: int, t: float, request: int, cache: str = "MISS", stream: int = 2) -> Message:
    info = HttpInfo(
        request=False, status=200, version="HTTP/1.1", request_in=request,
        headers=[("X-Cache", cache)],
    )  # fmt: skip
    return Message(frame, t, EDGE, CLIENT, "http", "response", "200 OK", stream, http=info)


def _pairs(count: int, stream: int = 2, start: int = 10) -> list[Message]:
    out = []
    for i in range(count):
        f, t = start + 2 * i, 1.0 + i
        wait = 0.0011 * (i + 1)
        out += [_get(f, t, f"/a{i}", stream=stream), _ok(f + 1, t + wait, f, stream=stream)]
    return out


@pytest.mark.parametrize("n", range(1, len(HOSTS) + 1))
def test_columns_fit_1280(n: int) -> None:
    """Up to every host of the plan, the lifelines fit the page's column at 1280 px."""
    assert LEFT + n * column_width(n) <= 1160
    svg = lifeline_heads([h.ipv4 for h in HOSTS[:n]])
    width = int(re.search(r'width="(\d+)"', svg).group(1))  # type: ignore[union-attr]
    assert width <= 1280 - 2 * 28 - 16


def test_heads_short_names_full_on_hover() -> None:
    """A head shows the service name; its title has the DNS name, address and role."""
    svg = lifeline_heads([h.ipv4 for h in HOSTS if not h.router])
    assert ">tld-a</text>" in svg
    assert ">ns-example</text>" in svg
    assert "<title>a.gtld-servers.net (198.51.100.11): TLD DNS server" in svg
    # With the routers too the narrower heads cut long names; the title still has it all.
    svg = lifeline_heads([h.ipv4 for h in HOSTS])
    assert ">home-ro…</text>" in svg
    assert "<title>router.home.arpa (198.18.0.1): home router" in svg


def test_fit_text() -> None:
    """Labels are cut with an ellipsis to the room they have, and left alone when they fit."""
    assert fit_text("SYN", 100) == "SYN"
    assert fit_text("ClientHello SNI www.example.com ALPN h2", 68) == "ClientHel…"


def test_long_label_cut_full_in_title() -> None:
    """An arrow's label is shortened to the diagram's width; its tooltip keeps it whole."""
    uri = "/" + "x" * 300
    svg = sequence_html([_get(1, 0.0, uri)])
    label = re.search(r'class="lbl"[^>]*>([^<]*)<', svg).group(1)  # type: ignore[union-attr]
    assert label.endswith("…")
    assert len(label) < 200
    assert f"GET {uri}</title>" in svg


def test_repeated_pairs_fold_after_the_first() -> None:
    """Five keep-alive GETs on one connection: the first drawn, four in one summary row."""
    messages = _pairs(5)
    rows = fold_repeats(messages)
    assert rows[:2] == messages[:2]
    fold = rows[2]
    assert isinstance(fold, Fold)
    assert len(rows) == 3
    assert fold.messages == tuple(messages[2:])
    assert fold.summary == "4 more GETs on connection 2, all 200, all MISS, 2.2–5.5 ms"


def test_too_few_repeats_stay_drawn() -> None:
    """Two exchanges fold nothing: one folded exchange would save no room."""
    messages = _pairs(2)
    assert fold_repeats(messages) == messages


def test_runs_break_on_other_connections_and_mixed_tallies() -> None:
    """Another connection's message ends a run; mixed methods and cache states are counted."""
    first = _pairs(4, stream=2)
    first[3].http.headers[0] = ("X-Cache", "HIT")  # type: ignore[union-attr]
    post = _get(30, 9.0, "/form", method="POST")
    post_ok = _ok(31, 9.001, 30)
    other = _pairs(3, stream=7, start=40)
    rows = fold_repeats([*first, post, post_ok, *other])
    folds = [r for r in rows if isinstance(r, Fold)]
    assert [f.summary for f in folds] == [
        "4 more requests (GET ×3, POST ×1) on connection 2, all 200, MISS ×3, HIT ×1, 1.0–4.4 ms",
        "2 more GETs on connection 7, all 200, all MISS, 2.2–3.3 ms",
    ]
    unfolded = [m for r in rows for m in (r.messages if isinstance(r, Fold) else (r,))]
    assert unfolded == [*first, post, post_ok, *other]


def test_fold_row_in_the_diagram() -> None:
    """The folded row is a <details> whose arrows keep their data-frame numbers."""
    messages = _pairs(5)
    html = sequence_html(messages)
    assert html.count('<details class="fold">') == 1
    assert "4 more GETs on connection 2" in html
    frames = [int(f) for f in re.findall(r'<g class="msg [^"]*" data-frame="(\d+)"', html)]
    assert frames == [m.frame for m in messages]


def test_folded_responses_timed_from_requests_elsewhere() -> None:
    """Responses folded apart from their requests are timed from the capture's requests."""
    gets = [_get(5, 1.0, f"/r{i}") for i in range(4)]
    oks = [_ok(9, 1.0234, 5) for _ in range(4)]
    rows = fold_repeats(oks, context=gets)
    assert isinstance(rows[1], Fold)
    assert rows[1].summary == "3 more responses on connection 2, all 200, all MISS, 23.4 ms"
