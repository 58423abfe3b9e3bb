"""The scenario side of --http: the browse step's `http:` argument, checked and passed on.

These sit with the client's tests because they are about its option; the rest
of the scenario format is tested in tests/unit/lab/test_scenario.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from lab.errors import UsageError
from lab.scenario import spec, steps
from lab.scenario.expect import StepOutcome


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("http", ["1.0", "1.1", "2", "3", "auto"])
def test_browse_step_takes_each_http_version(tmp_path: Path, http: str) -> None:
    """`http:` accepts 1.0, 1.1, 2, 3 and auto, kept as written (1.0 is not read as a float)."""
    p = write(
        tmp_path, f"name: x\nsteps:\n  - browse:\n      url: https://a/\n      http: {http}\n"
    )
    assert spec.load(p).steps[0].args["http"] == http


@pytest.mark.parametrize("bad", ["4", "1", "h2", "h3", "1.10"])
def test_unknown_http_version_names_file_and_line(tmp_path: Path, bad: str) -> None:
    """Any other `http:` is a UsageError at the line of the value, listing the choices."""
    p = write(tmp_path, f"name: x\nsteps:\n  - browse:\n      url: https://a/\n      http: {bad}\n")
    with pytest.raises(
        UsageError, match=rf"s.yaml:5: browse `http:` is one of 1.0, 1.1, 2, 3, auto, not '{bad}'"
    ):
        spec.load(p)


class FakeLab:
    """What _browse asks of the lab: the client container's id."""

    def container_id(self, service: str) -> str:
        return f"{service}-id"


class FakeProcess:
    """subprocess.Popen as _browse uses it: a client that printed nothing and exited 0."""

    def __init__(self, cmd: list[str], **_kwargs: Any) -> None:
        self.cmd = cmd
        self.stdout: list[str] = []
        self.stderr = self

    def read(self) -> str:
        return ""

    def wait(self) -> int:
        return 0

    def __enter__(self) -> FakeProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None


@pytest.mark.parametrize(("args", "flag"), [({}, "auto"), ({"http": "1.0"}, "1.0")])
def test_browse_step_passes_http_to_the_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: dict[str, str], flag: str
) -> None:
    """The step runs the client with --http as the scenario says, auto when it says nothing."""
    ran: list[list[str]] = []

    def popen(cmd: list[str], **kwargs: Any) -> FakeProcess:
        ran.append(cmd)
        return FakeProcess(cmd, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", popen)  # the module _browse calls
    step = spec.Step("browse", {"url": "https://www.example.com/", **args}, 3)
    outcome = StepOutcome(index=1, kind="browse", target="", started=0.0)
    steps._browse(FakeLab(), outcome, step, "/runs/x", tmp_path, [])  # type: ignore[arg-type]
    (cmd,) = ran
    assert cmd[cmd.index("--http") + 1] == flag
    assert cmd[cmd.index("services.client.browse") + 1] == "https://www.example.com/"
