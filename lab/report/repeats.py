"""Fold repeated HTTP exchanges on one connection into one row of the diagram.

A page load sends many requests down one connection: twenty keep-alive GETs
over HTTP/1.1, or five HEADERS frames in one packet over HTTP/2. Drawn one
arrow each they push everything else off the screen and teach nothing after
the first. ``fold_repeats`` keeps the first exchange of such a run as it is
and replaces the rest with a ``Fold`` that says what they were ("4 more GETs
on connection 2, all 200, all MISS, 1.1–4.1 ms") and still holds every
message, so the page can show them on demand.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from lab.report.packets import Message


@dataclass(frozen=True)
class Fold:
    """Messages drawn as one summary row; each is still there when unfolded."""

    messages: tuple[Message, ...]
    summary: str

    @property
    def frames(self) -> list[int]:
        return list(dict.fromkeys(m.frame for m in self.messages))


@dataclass(frozen=True)
class _Unit:
    shape: str  # "pair" (a request and its answer), "request" or "response"
    stream: int
    messages: tuple[Message, ...]


def _answers(response: Message, request: Message) -> bool:
    a, q = response.http, request.http
    if a is None or q is None or a.request or a.request_in != request.frame:
        return False
    return a.stream_id == q.stream_id and response.stream == request.stream


def _units(messages: Sequence[Message]) -> list[Message | _Unit]:
    """Each HTTP request with the response right behind it, or alone; other messages as they are."""
    out: list[Message | _Unit] = []
    i = 0
    while i < len(messages):
        m = messages[i]
        if m.proto != "http" or m.http is None or m.stream is None:
            out.append(m)
            i += 1
            continue
        nxt = messages[i + 1] if i + 1 < len(messages) else None
        if m.http.request and nxt is not None and _answers(nxt, m):
            out.append(_Unit("pair", m.stream, (m, nxt)))
            i += 2
            continue
        out.append(_Unit("request" if m.http.request else "response", m.stream, (m,)))
        i += 1
    return out


def _tally(values: Sequence[str]) -> str:
    counts = Counter(values)
    if len(counts) == 1:
        return f"all {values[0]}"
    return ", ".join(f"{v} ×{n}" for v, n in counts.most_common())


def _ms(values: Sequence[float]) -> str:
    lo, hi = min(values) * 1000, max(values) * 1000
    return f"{lo:.1f} ms" if f"{lo:.1f}" == f"{hi:.1f}" else f"{lo:.1f}–{hi:.1f} ms"


def _summary(units: Sequence[_Unit], sent_at: dict[int, float]) -> str:
    """What the folded exchanges were: how many, which method, status, cache, time."""
    n = len(units)
    shape = units[0].shape
    requests = [m for u in units for m in u.messages if m.http and m.http.request]
    responses = [m for u in units for m in u.messages if m.http and not m.http.request]
    if shape == "response":
        what = f"{n} more responses"
    else:
        methods = [m.http.method or "?" for m in requests if m.http]
        if len(set(methods)) == 1:
            what = f"{n} more {methods[0]}s"
        else:
            what = f"{n} more requests ({_tally(methods)})"
    parts = [f"{what} on connection {units[0].stream}"]
    ids = [m.http.stream_id for m in requests or responses if m.http and m.http.stream_id]
    if ids:
        parts[0] += f" (HTTP/2 streams {', '.join(str(s) for s in ids)})"
    if responses:
        parts.append(_tally([str(m.http.status) for m in responses if m.http]))
        cache = [
            v.upper()
            for m in responses
            if m.http
            for k, v in m.http.headers
            if k.lower() == "x-cache"
        ]
        if cache:
            parts.append(_tally(cache))
        waits = [
            m.time - sent_at[m.http.request_in]
            for m in responses
            if m.http and m.http.request_in in sent_at
        ]
        if waits:
            parts.append(_ms(waits))
    return ", ".join(parts)


def fold_repeats(
    messages: Sequence[Message], min_fold: int = 2, context: Sequence[Message] = ()
) -> list[Message | Fold]:
    """The messages in capture order, runs of like HTTP exchanges folded after the first.

    A run is consecutive exchanges of one shape (request and answer, lone
    requests, lone responses) on one TCP connection with nothing else between
    them. Runs that would fold fewer than MIN_FOLD exchanges are left drawn.
    CONTEXT (the whole capture) finds the requests of responses folded apart
    from them, to time those too.
    """
    sent_at = {m.frame: m.time for m in (*context, *messages) if m.http and m.http.request}
    out: list[Message | Fold] = []
    run: list[_Unit] = []

    def flush() -> None:
        if run:
            out.extend(run[0].messages)
            rest = run[1:]
            if len(rest) >= min_fold:
                folded = tuple(m for u in rest for m in u.messages)
                out.append(Fold(folded, _summary(rest, sent_at)))
            else:
                out.extend(m for u in rest for m in u.messages)
            run.clear()

    for unit in _units(messages):
        if isinstance(unit, Message):
            flush()
            out.append(unit)
            continue
        if run and (run[-1].shape, run[-1].stream) != (unit.shape, unit.stream):
            flush()
        run.append(unit)
    flush()
    return out
