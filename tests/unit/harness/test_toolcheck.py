"""A missing test tool: a skip on a developer's machine, a failure under CI=true."""

from __future__ import annotations

import pytest

from harness.toolcheck import missing_tool
from tests.conformance.support import lacking, need


@pytest.mark.parametrize("value", ["true", "TRUE", "True", "1", "yes"])
def test_ci_true_fails(value: str) -> None:
    """CI=true (as GitHub Actions, GitLab CI and .ci/run set it) makes a missing tool fail."""
    verdict = missing_tool("nsd", {"CI": value})
    assert verdict.fail is True
    assert "nsd" in verdict.message
    assert "run `lab tools`" in verdict.message


@pytest.mark.parametrize("env", [{}, {"CI": ""}, {"CI": "false"}, {"CI": "0"}, {"OTHER": "true"}])
def test_without_ci_skips(env: dict[str, str]) -> None:
    """Without CI=true a missing tool skips, still naming it and how to install it."""
    verdict = missing_tool("kdig drill", env)
    assert verdict.fail is False
    assert verdict.message.startswith("kdig drill not installed")
    assert "run `lab tools`" in verdict.message


def test_lacking_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """The conformance helper turns the CI verdict into a pytest failure, not a skip."""
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no-such-tool-x not installed and CI=true"):
        lacking("no-such-tool-x")


def test_need_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside CI `need` on an absent program skips with the install hint."""
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="run `lab tools`"):
        need("no-such-tool-x")
