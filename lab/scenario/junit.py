"""A run's result in the forms CI systems read: JUnit XML and JSON.

JUnit XML has no standard, only a de facto schema (Ant's, as read by Jenkins,
GitLab and the GitHub test-report actions): one <testsuite> with tests=,
failures=, errors= and time=, one <testcase classname= name= time=> each, and a
<failure message=...> inside a case that failed. One case per expectation;
a step whose outcome was not ok and that no expectation looked at is a case
too, so a run that failed on a step alone never shows "all tests passed".

Pure: from a RunResult to text or a dict, no I/O; the CLI writes the files.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from lab.scenario.runner import RunResult

# XML 1.0 forbids most control characters even as references (section 2.2);
# a tool's error text can carry them (a terminal escape, a NUL).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

STEP_FIELDS = ("index", "kind", "target", "ok", "status", "cache", "rcode", "ms", "error")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


@dataclass(frozen=True)
class Case:
    """One JUnit test case: an expectation, or a step that failed."""

    name: str
    passed: bool
    message: str = ""  # one line: what failed, what was found, where to look
    detail: str = ""  # the failure element's text
    seconds: float | None = None
    step: int | None = None  # set for a failed step's own case


def _steps(result: RunResult) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = result.timeline.get("steps", [])
    return steps


def _scenario(result: RunResult) -> str:
    return str(result.timeline.get("scenario") or result.folder.name)


def _step_seconds(step: dict[str, Any]) -> float | None:
    started, finished = step.get("started"), step.get("finished")
    if isinstance(started, int | float) and isinstance(finished, int | float) and finished:
        return max(0.0, float(finished) - float(started))
    return None


def cases(result: RunResult) -> list[Case]:
    """The expectations in file order, then the failed steps no expectation covers."""
    where = f"run folder {result.folder}"
    out: list[Case] = []
    seen: set[str] = set()
    for c in result.checks:
        # CI systems key a case by its name: a repeated text gets its line to stay apart.
        name = c.what if c.what not in seen else f"{c.what} (line {c.line})"
        seen.add(c.what)
        if c.passed:
            out.append(Case(name, True))
            continue
        frames = getattr(c, "frames", None)  # packet checks may name the frames they counted
        shown = f"; frames {', '.join(map(str, frames))}" if frames else ""
        message = f"expected {c.what}; found {c.found}{shown}; {where}"
        detail = (
            f"scenario line {c.line}: {c.what}\nfound: {c.found}\n"
            + (f"frames: {', '.join(map(str, frames))}\n" if frames else "")
            + f"{where} (open report.html there; capture.pcapng holds every packet)\n"
        )
        out.append(Case(name, False, message, detail))
    for s in _steps(result):
        if s.get("ok") or s.get("index") in result.expected_steps:
            continue
        label = f"step {s.get('index')}: {s.get('kind')} {s.get('target')}"
        error = s.get("error") or "no error text"
        message = f"{label} failed: {error}; {where}"
        detail = f"{label}\nerror: {error}\n{where} (step-{s.get('index')}/ holds its files)\n"
        seconds = _step_seconds(s)
        out.append(Case(f"{label} succeeds", False, message, detail, seconds, s.get("index")))
    return out


def junit_xml(result: RunResult) -> str:
    """The run as one JUnit <testsuite name="weblab.NAME">, serialised with its declaration."""
    name = _scenario(result)
    all_cases = cases(result)
    suites = ET.Element(
        "testsuites",
        name="weblab",
        tests=str(len(all_cases)),
        failures=str(sum(not c.passed for c in all_cases)),
        errors="0",
        time=f"{result.seconds:.3f}",
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"weblab.{name}",
        tests=str(len(all_cases)),
        failures=str(sum(not c.passed for c in all_cases)),
        errors="0",
        skipped="0",
        time=f"{result.seconds:.3f}",
    )
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="run_folder", value=_xml_text(str(result.folder)))
    ET.SubElement(props, "property", name="capture", value=_xml_text(str(result.capture)))
    for case in all_cases:
        attrs = {"classname": _xml_text(name), "name": _xml_text(case.name)}
        if case.seconds is not None:
            attrs["time"] = f"{case.seconds:.3f}"
        el = ET.SubElement(suite, "testcase", attrs)
        if not case.passed:
            message = _xml_text(case.message)
            failure = ET.SubElement(el, "failure", message=message, type="weblab")
            failure.text = _xml_text(case.detail)
    ET.indent(suites)
    # ElementTree escapes &, <, > and quotes (and newlines in attributes) itself.
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def result_json(result: RunResult) -> dict[str, Any]:
    """The run as a JSON-ready dict: scenario, ok, run folder, steps, expectations."""
    return {
        "scenario": _scenario(result),
        "ok": result.ok,
        "run_folder": str(result.folder),
        "capture": str(result.capture),
        "seconds": round(result.seconds, 3),
        "steps": [{k: s.get(k) for k in STEP_FIELDS} for s in _steps(result)],
        "expectations": [
            {"line": c.line, "what": c.what, "passed": c.passed, "found": c.found}
            for c in result.checks
        ],
        # Steps that failed with no expectation on them: they alone made the run fail.
        "failed_steps": [c.step for c in cases(result) if c.step is not None],
    }
