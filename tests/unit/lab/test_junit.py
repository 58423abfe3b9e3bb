"""A run's result as JUnit XML and JSON for CI systems, and `lab run`'s exit codes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from lab import cli
from lab.compose import Lab
from lab.scenario.expect import Checked
from lab.scenario.junit import junit_xml, result_json
from lab.scenario.runner import RunResult

FOLDER = Path("runs/20250101-120000-browse")


def step(index: int, ok: bool, error: str = "", kind: str = "browse") -> dict[str, Any]:
    return {
        "index": index,
        "kind": kind,
        "target": "https://www.example.com/",
        "started": 100.0 + index,
        "finished": 100.5 + index,
        "ok": ok,
        "status": 200 if ok else None,
        "cache": [],
        "rcode": None,
        "ms": 500.0,
        "error": error,
    }


def result(
    checks: list[Checked],
    steps: list[dict[str, Any]],
    expected_steps: frozenset[int] = frozenset(),
    scenario: str = "browse",
) -> RunResult:
    ok = all(c.passed for c in checks) and all(
        s["ok"] for s in steps if s["index"] not in expected_steps
    )
    timeline = {"scenario": scenario, "steps": steps}
    return RunResult(FOLDER, FOLDER / "capture.pcapng", timeline, ok, 12.5, checks, expected_steps)


def suite(xml: str) -> ET.Element:
    root = ET.fromstring(xml)
    found = root.find("testsuite")
    assert found is not None
    return found


def test_one_case_per_expectation_and_a_failure_that_says_where() -> None:
    """Two expectations, one failed: two cases, one <failure> naming step, found and folder."""
    checks = [
        Checked(12, "step 1 status 200", True, "200"),
        Checked(13, "step 1 cache MISS on every response", False, "HIT"),
    ]
    s = suite(junit_xml(result(checks, [step(1, True)])))
    assert s.get("name") == "weblab.browse"
    assert (s.get("tests"), s.get("failures"), s.get("errors")) == ("2", "1", "0")
    assert s.get("time") == "12.500"
    cases = s.findall("testcase")
    assert [c.get("name") for c in cases] == [
        "step 1 status 200",
        "step 1 cache MISS on every response",
    ]
    assert {c.get("classname") for c in cases} == {"browse"}
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure is not None
    message = failure.get("message", "")
    assert "step 1 cache MISS" in message
    assert "found HIT" in message
    assert str(FOLDER) in message
    assert "line 13" in (failure.text or "")


def test_a_failed_step_without_an_expectation_is_a_case() -> None:
    """A step that failed and that no expectation looks at fails the suite on its own."""
    steps = [step(1, True), step(2, False, "connection refused", kind="fetch")]
    s = suite(junit_xml(result([Checked(5, "step 1 status 200", True, "200")], steps)))
    assert (s.get("tests"), s.get("failures")) == ("2", "1")
    failed = s.findall("testcase")[1]
    assert failed.get("name") == "step 2: fetch https://www.example.com/ succeeds"
    assert failed.get("time") == "0.500"
    failure = failed.find("failure")
    assert failure is not None
    assert "connection refused" in failure.get("message", "")


def test_a_failed_step_an_expectation_covers_is_not_counted_twice() -> None:
    """An expected failure (`ok: false` held) is judged by its expectation alone."""
    steps = [step(1, False, "NXDOMAIN")]
    r = result([Checked(7, "step 1 fails", True, "failed: NXDOMAIN")], steps, frozenset({1}))
    s = suite(junit_xml(r))
    assert (s.get("tests"), s.get("failures")) == ("1", "0")
    assert result_json(r)["ok"] is True


def test_special_characters_are_escaped() -> None:
    """Quotes, <, >, & and control characters in a check's text still give well-formed XML."""
    what = 'packets [http.request.uri contains "a<b>&c"] count=1'
    found = "0 packets\x1b[31m \x00 'é'"
    xml = junit_xml(result([Checked(3, what, False, found)], [], scenario='x&"y'))
    s = suite(xml)
    case = s.find("testcase")
    assert case is not None
    assert case.get("name") == what
    assert case.get("classname") == 'x&"y'
    failure = case.find("failure")
    assert failure is not None
    assert "'é'" in failure.get("message", "")
    assert "\x00" not in xml
    assert "\x1b" not in xml


def test_repeated_expectation_texts_stay_apart() -> None:
    """Two checks with the same text get distinct case names (CI keys cases by name)."""
    checks = [Checked(3, "step 1 succeeds", True, "ok"), Checked(4, "step 1 succeeds", True, "ok")]
    names = [c.get("name") for c in suite(junit_xml(result(checks, []))).findall("testcase")]
    assert names == ["step 1 succeeds", "step 1 succeeds (line 4)"]


def test_json_has_scenario_ok_folder_steps_and_expectations() -> None:
    """The JSON result round-trips through json and says what held and what was found."""
    checks = [Checked(12, "step 1 status 200", False, "502")]
    doc = json.loads(json.dumps(result_json(result(checks, [step(1, True)]))))
    assert doc["scenario"] == "browse"
    assert doc["ok"] is False
    assert doc["run_folder"] == str(FOLDER)
    assert doc["steps"][0]["index"] == 1
    assert doc["steps"][0]["ok"] is True
    assert doc["expectations"] == [
        {"line": 12, "what": "step 1 status 200", "passed": False, "found": "502"}
    ]
    assert doc["failed_steps"] == []


def test_bad_scenario_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`lab run` on a scenario file with a typo exits 2 with file:line, before any Docker call."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nstesp:\n  - browse: https://www.example.com/\n")
    assert cli.main(["run", str(bad), "--junit", str(tmp_path / "r.xml")]) == 2
    assert "bad.yaml:2" in capsys.readouterr().err
    assert not (tmp_path / "r.xml").exists()


def test_lab_not_running_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`lab run` when the lab is down exits 3 (the machine, not the code under test)."""
    monkeypatch.setattr(Lab, "running", lambda self: False)
    assert cli.main(["run", "browse"]) == 3
    assert "make up" in capsys.readouterr().err


def test_no_docker_at_all_exits_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With no docker binary, `lab run` exits 3 with one line, not a traceback."""

    def no_docker(self: Lab) -> bool:
        raise FileNotFoundError("docker")

    monkeypatch.setattr(Lab, "running", no_docker)
    assert cli.main(["run", "browse"]) == 3
    assert "lab doctor" in capsys.readouterr().err


def test_run_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    """`lab run --help` lists exit codes 0 to 3 and the run folder's files."""
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    out = capsys.readouterr().out
    for code in ("0  every", "1  an expectation", "2  usage", "3  the lab"):
        assert code in out
    assert "capture.pcapng" in out


def test_ci_examples_are_yaml_that_publish_the_junit_file() -> None:
    """docs/ci's examples parse, run `lab run browse --junit results.xml` and keep runs/."""
    docs = Path(__file__).resolve().parents[3] / "docs" / "ci"
    for name in ("github-actions.yml", "gitlab-ci.yml"):
        text = (docs / name).read_text()
        assert isinstance(yaml.safe_load(text), dict)
        assert "lab run browse" in text
        assert "--junit results.xml" in text
        assert "runs/" in text
        assert "not run by weblab's own CI" in text.replace("NOT", "not")
