"""Scenario files: typed loading and file:line errors."""

from pathlib import Path

import pytest

from lab import scenario
from lab.errors import UsageError


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(text)
    return p


def test_shipped_scenarios_load() -> None:
    """Every scenario in lab/scenarios/ loads and has at least one step."""
    found = scenario.available()
    assert "browse" in found
    for path in found.values():
        sc = scenario.load(path)
        assert sc.steps and sc.name == path.stem


def test_browse_is_cold() -> None:
    """The main scenario starts from an empty resolver cache."""
    sc = scenario.find("browse")
    assert sc.cold_dns is True
    assert sc.steps[0].kind == "browse"
    assert sc.steps[0].target == "https://www.example.com/"


def test_unknown_key_reports_file_and_line(tmp_path: Path) -> None:
    """A typo in a key names the file, the line and the keys expected."""
    p = write(tmp_path, "name: x\nstesp:\n  - browse: https://a/\n")
    with pytest.raises(UsageError, match=r"s.yaml:2: unknown key 'stesp'"):
        scenario.load(p)


def test_unknown_step_kind(tmp_path: Path) -> None:
    """An unknown step kind is refused with its line and the known kinds."""
    p = write(tmp_path, "name: x\nsteps:\n  - browze: https://a/\n")
    with pytest.raises(UsageError, match=r"s.yaml:3: unknown step 'browze'; known steps: browse"):
        scenario.load(p)


def test_bad_yaml(tmp_path: Path) -> None:
    """Broken YAML is a usage error, not a traceback."""
    p = write(tmp_path, "name: [x\n")
    with pytest.raises(UsageError, match="not valid YAML"):
        scenario.load(p)


def test_bad_boolean(tmp_path: Path) -> None:
    """cold_dns accepts only true or false."""
    p = write(tmp_path, "name: x\ncold_dns: maybe\nsteps:\n  - browse: https://a/\n")
    with pytest.raises(UsageError, match="s.yaml:2: cold_dns must be true or false"):
        scenario.load(p)


def test_unknown_scenario_lists_known() -> None:
    """An unknown scenario name lists the ones that exist."""
    with pytest.raises(UsageError, match=r"unknown scenario 'nope'; available: .*browse"):
        scenario.find("nope")
