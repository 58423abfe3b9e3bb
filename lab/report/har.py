"""Export a run as HAR 1.2, the format browsers' network panels save and load.

Timings come from the client's timeline.json; headers come from the capture,
decrypted by tshark, when it is there (else the few the timeline recorded).
Field meanings follow the HAR 1.2 spec (W3C Web Performance WG draft,
http://www.softwareishard.com/blog/har-12-spec/): ``ssl`` is also counted in
``connect``, -1 means "does not apply", and ``time`` is the sum of the timings
that apply.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from lab.errors import LabError
from lab.report.packets import HttpInfo, Message, TsharkError, read_messages

CREATOR = {"name": "weblab", "version": "0.1.0", "comment": "lab.report.har from timeline.json"}


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds")


def _headers(pairs: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in pairs]


def _exchange(
    messages: Sequence[Message], used: set[int], host: str, uri: str
) -> tuple[Message | None, Message | None]:
    """The capture's request for HOST+URI not yet used, and its response."""
    for i, m in enumerate(messages):
        h = m.http
        if i in used or h is None or not h.request or h.host != host or h.uri != uri:
            continue
        used.add(i)
        resp = next(
            (
                r
                for r in messages
                if r.http is not None and not r.http.request and r.http.request_in == m.frame
            ),
            None,
        )
        return m, resp
    return None, None


def _timings(f: Mapping[str, Any]) -> dict[str, float]:
    def ms(key: str) -> float:
        return round(float(f.get(key) or 0), 3)

    fresh = not f.get("reused_connection")
    tls = ms("tls_ms") if fresh and ms("tls_ms") else -1.0
    # A request that never reached a server (its name did not resolve) had no connect.
    connected = fresh and (ms("connect_ms") or f.get("connection"))
    out = {
        "blocked": -1.0,
        "dns": ms("dns_ms") if fresh and ms("dns_ms") else -1.0,
        "connect": round(ms("connect_ms") + max(tls, 0), 3) if connected else -1.0,
        "ssl": tls,
        "send": ms("send_ms"),
        "wait": ms("ttfb_ms"),
        "receive": ms("download_ms"),
    }
    # What the phases do not cover (a browser's queueing, a lookup that failed) is
    # "blocked": time before the request had a connection (HAR 1.2).
    rest = round(ms("total_ms") - sum(v for k, v in out.items() if v > 0 and k != "ssl"), 3)
    if rest >= 1.0:
        out["blocked"] = rest
    return out


def _version(f: Mapping[str, Any]) -> str:
    """The version the client recorded ("1.1", "2", "3"), as HAR writes it."""
    return f"HTTP/{f['http_version']}" if f.get("http_version") else "HTTP/1.1"


def _entry(
    f: Mapping[str, Any], req: Message | None, resp: Message | None, server_ip: str, connection: str
) -> dict[str, Any]:
    url = str(f["url"])
    rq: HttpInfo | None = req.http if req else None
    rs: HttpInfo | None = resp.http if resp else None
    req_headers = rq.headers if rq else [("Host", str(f.get("host", "")))]
    resp_headers = (
        rs.headers
        if rs
        else [
            (k, str(f[v]))
            for k, v in (("Content-Type", "content_type"), ("X-Cache", "cache"), ("Via", "via"))
            if f.get(v)
        ]
    )
    timings = _timings(f)
    status = int(f.get("status") or 0)
    return {
        "pageref": "page_1",
        "startedDateTime": _iso(float(f["started"])),
        "time": round(sum(v for v in timings.values() if v > 0), 3),
        "request": {
            "method": rq.method if rq else "GET",
            "url": url,
            "httpVersion": (rq.version if rq else "") or _version(f),
            "cookies": [],
            "headers": _headers(req_headers),
            "queryString": [{"name": k, "value": v} for k, v in parse_qsl(urlsplit(url).query)],
            "headersSize": -1,
            "bodySize": 0,
        },
        "response": {
            "status": status,
            "statusText": rs.phrase if rs else "",
            "httpVersion": (rs.version if rs else "") or (_version(f) if status else ""),
            "cookies": [],
            "headers": _headers(resp_headers),
            "content": {
                "size": int(f.get("bytes") or 0),
                "mimeType": str(f.get("content_type") or ""),
            },
            "redirectURL": (rs.header("Location") if rs else ""),
            "headersSize": -1,
            "bodySize": int(f.get("bytes") or 0) if status else -1,
            **({"_error": str(f["error"])} if f.get("error") else {}),
        },
        "cache": {},
        "timings": timings,
        "serverIPAddress": server_ip,
        "connection": connection,
    }


def build_har(timeline: Mapping[str, Any], messages: Sequence[Message] = ()) -> dict[str, Any]:
    """The HAR document of one run; MESSAGES (from the capture) supply the real headers."""
    fetches: Sequence[Mapping[str, Any]] = timeline.get("fetches") or []
    started = float(timeline.get("started") or (fetches[0]["started"] if fetches else 0))
    finished = float(timeline.get("finished") or started)
    used: set[int] = set()
    address: dict[str, str] = {}
    entries = []
    for f in fetches:
        host = str(f.get("host", ""))
        parts = urlsplit(str(f["url"]))
        uri = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        req, resp = _exchange(messages, used, host, uri)
        if f.get("address"):
            address[host] = str(f["address"])
        server_ip = req.dst if req else address.get(host, "")
        connection = str(req.stream) if req and req.stream is not None else host
        entries.append(_entry(f, req, resp, server_ip, connection))
    first = str(fetches[0]["url"]) if fetches else ""
    return {
        "log": {
            "version": "1.2",
            "creator": CREATOR,
            "pages": [
                {
                    "startedDateTime": _iso(started),
                    "id": "page_1",
                    "title": first,
                    "pageTimings": {
                        "onContentLoad": -1,
                        "onLoad": round((finished - started) * 1000, 3),
                    },
                }
            ]
            if fetches
            else [],
            "entries": entries,
        }
    }


def write_har(run_dir: Path) -> Path:
    """Write RUN_DIR/run.har; headers from the capture when tshark can read it."""
    try:
        timeline = json.loads((run_dir / "timeline.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise LabError(f"cannot read {run_dir / 'timeline.json'}: {e}") from e
    messages: list[Message] = []
    capture = run_dir / "capture.pcapng"
    if capture.exists():
        try:
            messages = read_messages(capture)
        except TsharkError:
            messages = []  # the timeline alone still makes a valid HAR
    out = run_dir / "run.har"
    out.write_text(json.dumps(build_har(timeline, messages), indent=2))
    return out
