"""`lab scenario check` and `lab scenario schema`: the loader's verdict, no Docker."""

import json
from pathlib import Path

import pytest

from lab import cli
from lab.scenario import spec
from lab.scenario.schema import scenario_schema

GOOD = (
    "name: x\nsteps:\n  - browse: https://www.example.com/\n  - wait: 1\n"
    "expect:\n  - {step: 1, status: 200}\n"
)


def write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_good_file_is_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A good file exits 0 with its step and expectation counts."""
    path = write(tmp_path, "good.yaml", GOOD)
    assert cli.main(["scenario", "check", path]) == 0
    out = capsys.readouterr()
    assert out.out == f"{path}: ok (2 steps, 1 expectation)\n"
    assert out.err == ""


def test_bad_file_exits_2_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad file exits 2 with the loader's own one-line error at file:line."""
    path = write(tmp_path, "bad.yaml", "name: x\nsteps:\n  - browze: https://a/\n")
    assert cli.main(["scenario", "check", path]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:3: unknown step 'browze'; known steps: browse")
    assert err.count("\n") == 1


def test_every_file_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bad file does not hide the verdict on the files after it."""
    bad = write(tmp_path, "bad.yaml", "name: x\nsteps:\n  - wait: 500\n")
    good = write(tmp_path, "good.yaml", GOOD)
    assert cli.main(["scenario", "check", bad, good]) == 2
    out = capsys.readouterr()
    assert out.err == f"{bad}:3: wait takes 0 < seconds <= 120\n"
    assert out.out == f"{good}: ok (2 steps, 1 expectation)\n"


def test_broken_yaml_is_one_line_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Invalid YAML is one line naming the file and the line, not PyYAML's "<unicode string>"."""
    path = write(tmp_path, "broken.yaml", "name: x\nsteps: [browse\n")
    assert cli.main(["scenario", "check", path]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:3: not valid YAML: ")
    assert "unicode string" not in err
    assert err.count("\n") == 1


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file that is not there is a usage error saying so."""
    assert cli.main(["scenario", "check", str(tmp_path / "none.yaml")]) == 2
    assert "cannot read scenario" in capsys.readouterr().err


def test_names_and_default_check_shipped(capsys: pytest.CaptureFixture[str]) -> None:
    """A shipped scenario's name is accepted, and no argument checks all of them."""
    assert cli.main(["scenario", "check", "browse"]) == 0
    assert capsys.readouterr().out.startswith("browse: ok (")
    assert cli.main(["scenario", "check"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(spec.available())
    assert all(": ok (" in line for line in lines)


def test_scenario_needs_an_action(capsys: pytest.CaptureFixture[str]) -> None:
    """`lab scenario` alone is a usage error (exit 2)."""
    with pytest.raises(SystemExit) as e:
        cli.main(["scenario"])
    assert e.value.code == 2


def test_schema_command_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    """`lab scenario schema` prints scenario_schema() as JSON."""
    assert cli.main(["scenario", "schema"]) == 0
    assert json.loads(capsys.readouterr().out) == scenario_schema()
