"""Fixtures: a MiniInternet with our servers and the peers, started once per session.

These tests need root (network namespaces) and the peer tools (NSD, Unbound,
dig, kdig, drill); without them they skip, saying what is missing (`lab
tools` installs them). Under CI=true a missing tool fails instead
(harness/toolcheck.py): a green CI run must mean the differential suite ran.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen

import pytest

from harness.addresses import ADDRESSES
from harness.dnspeers import start_nsds, start_unbound
from harness.dnsservers import start_ours
from harness.netns import MiniInternet, available
from harness.toolcheck import missing_tool

TOOLS = ("nsd", "nsd-checkzone", "unbound", "unbound-checkconf", "dig", "kdig", "drill", "iptables")


def pytest_configure(config: pytest.Config) -> None:
    """Declare this folder's marker."""
    config.addinivalue_line("markers", "netns: needs root and a network namespace (no Docker)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here runs in a network namespace."""
    for item in items:
        if "dnsdiff" in str(item.path):
            item.add_marker(pytest.mark.netns)


def need_namespace() -> None:
    """Skip unless namespaces and the peer tools are available (fail for a tool in CI)."""
    why = available()
    if why:
        pytest.skip(why)
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        verdict = missing_tool(" ".join(missing), os.environ)
        if verdict.fail:
            pytest.fail(verdict.message, pytrace=False)
        pytest.skip(verdict.message)


@dataclass
class Lab:
    """A running mini-Internet: ours on the lab addresses, NSDs and Unbound beside."""

    net: MiniInternet
    tmp: Path
    ours: dict[str, Popen[bytes]]
    nsd: dict[str, Popen[bytes]]
    unbound: Popen[bytes]


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Our servers, one NSD per zone set and Unbound, all fresh."""
    need_namespace()
    tmp = tmp_path_factory.mktemp("dnsdiff")
    with MiniInternet(ADDRESSES) as net:
        yield Lab(net, tmp, start_ours(net, tmp), start_nsds(net, tmp), start_unbound(net, tmp))


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[tuple[MiniInternet, dict[str, Popen[bytes]]]]:
    """A namespace of its own with only our servers (for tests that break things)."""
    need_namespace()
    with MiniInternet(ADDRESSES) as net:
        yield net, start_ours(net, tmp_path)
