"""HAR 1.2 export, checked against a schema written from the spec."""

import json
from pathlib import Path
from typing import Any

import pytest

from lab.report.har import build_har, write_har
from lab.report.packets import messages_from_rows

from .conftest import DATA, SAMPLE, needs_tshark

SCHEMA = json.loads((DATA / "har-1.2.schema.json").read_text())
TYPES: dict[str, type | tuple[type, ...]] = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "number": (int, float),
}


def _check(doc: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """A small JSON Schema subset (type, required, properties, items, enum, minimum, $ref)."""
    if "$ref" in schema:
        schema = SCHEMA["definitions"][schema["$ref"].rsplit("/", 1)[1]]
    errors = []
    t = schema.get("type")
    if t and (not isinstance(doc, TYPES[t]) or (t != "boolean" and isinstance(doc, bool))):
        return [f"{where}: expected {t}, got {type(doc).__name__}"]
    if "enum" in schema and doc not in schema["enum"]:
        errors.append(f"{where}: {doc!r} not in {schema['enum']}")
    if "minimum" in schema and doc < schema["minimum"]:
        errors.append(f"{where}: {doc} < {schema['minimum']}")
    for key in schema.get("required", []):
        if key not in doc:
            errors.append(f"{where}: missing {key}")
    for key, sub in schema.get("properties", {}).items():
        if isinstance(doc, dict) and key in doc:
            errors += _check(doc[key], sub, f"{where}.{key}")
    if "items" in schema:
        for i, item in enumerate(doc):
            errors += _check(item, schema["items"], f"{where}[{i}]")
    return errors


def _timeline() -> dict[str, Any]:
    return json.loads((SAMPLE / "timeline.json").read_text())


def test_timeline_only_har_validates() -> None:
    """Without the capture the HAR is still valid 1.2, with one entry per request."""
    har = build_har(_timeline())
    assert _check(har, SCHEMA) == []
    assert har["log"]["version"] == "1.2"
    assert len(har["log"]["entries"]) == 4


def test_timings_follow_the_spec() -> None:
    """ssl is inside connect, reused connections have -1, time is the sum of the rest."""
    tl = _timeline()
    first, _, reused, _ = build_har(tl)["log"]["entries"]
    t = first["timings"]
    covered = sum(v for k, v in t.items() if v > 0 and k not in ("ssl", "blocked"))
    assert t["blocked"] == round(tl["fetches"][0]["total_ms"] - covered, 3)
    assert t["ssl"] == 2.667
    assert t["connect"] == round(0.605 + 2.667, 3)
    assert first["time"] == round(sum(v for v in t.values() if v > 0), 3)
    assert reused["timings"]["dns"] == reused["timings"]["connect"] == -1
    assert reused["serverIPAddress"] == "198.51.100.80"


def test_request_that_never_connected() -> None:
    """A failed lookup: no connect, no version, its time counted as blocked, its error kept."""
    tl = {"started": 1.0, "fetches": [{"url": "https://www.google.com/", "host": "www.google.com",
          "started": 1.0, "total_ms": 225.0, "error": "ERR_NAME_NOT_RESOLVED"}]}  # fmt: skip
    (entry,) = build_har(tl)["log"]["entries"]
    assert entry["timings"]["connect"] == -1
    assert entry["timings"]["blocked"] == 225.0
    assert entry["time"] == 225.0
    assert entry["response"]["httpVersion"] == ""
    assert entry["response"]["_error"] == "ERR_NAME_NOT_RESOLVED"
    assert _check(build_har(tl), SCHEMA) == []


def test_broken_check_catches_missing_fields() -> None:
    """The hand-written validator does reject a HAR with a missing member."""
    har = build_har(_timeline())
    del har["log"]["entries"][0]["timings"]
    assert _check(har, SCHEMA) == ["$.log.entries[0]: missing timings"]


@needs_tshark
def test_har_with_capture_headers(run_dir: Path) -> None:
    """write_har takes the real headers from the decrypted capture."""
    har = json.loads(write_har(run_dir).read_text())
    assert _check(har, SCHEMA) == []
    entry = har["log"]["entries"][0]
    names = [h["name"] for h in entry["response"]["headers"]]
    assert {"X-Cache", "Via", "Age", "Cache-Control"} <= set(names)
    assert entry["connection"] == "0"
    assert entry["request"]["httpVersion"] == "HTTP/1.1"


def test_jsonschema_when_available() -> None:
    """If jsonschema is installed, it agrees with the hand check."""
    try:
        import jsonschema
    except ImportError:
        pytest.skip("jsonschema is not installed; the hand-written check ran instead")
    jsonschema.validate(build_har(_timeline()), SCHEMA)


def test_har_of_two_visits() -> None:
    """A two-visit timeline makes a valid HAR that pairs each visit's request with its own
    capture exchange: the reload's 304s carry their validators."""
    warm = DATA / "warm-run"
    messages = messages_from_rows(json.loads((warm / "rows.json").read_text()))
    har = build_har(json.loads((warm / "timeline.json").read_text()), messages)
    assert _check(har, SCHEMA) == []
    entries = har["log"]["entries"]
    assert len(entries) == 12
    assert [e["response"]["status"] for e in entries] == [200] * 6 + [304] * 6
    names = {h["name"] for h in entries[6]["request"]["headers"]}
    assert {"If-None-Match", "If-Modified-Since"} <= names
    assert entries[6]["response"]["content"]["size"] == 0
