"""Conformance: real programs on 127.0.0.1 (no Docker), judged by tools we did not write.

http-cache-tests judges the edge's cache (and nginx's, for comparison), sslyze
the TLS configuration against Mozilla's profile, schemathesis the API against
its own OpenAPI document. Results land in runs/conformance/.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# bench/ and tests/ are not installed packages (pyproject's setuptools lists lab*, services*)
# and pytest runs with --import-mode=importlib: make the checkout importable.
_CHECKOUT = str(Path(__file__).resolve().parents[2])
if _CHECKOUT not in sys.path:
    sys.path.insert(0, _CHECKOUT)

from harness.peers import Tls, lab_tls  # noqa: E402  (after the path above)
from harness.procs import ROOT  # noqa: E402
from tests.conformance.support import Procs  # noqa: E402

RESULTS = ROOT / "runs" / "conformance"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "conformance: real programs on 127.0.0.1, judged by third-party tools (no Docker)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/conformance/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.conformance)


@pytest.fixture(scope="session")
def results_dir() -> Path:
    """runs/conformance/, where the tools' raw results are kept for the reader."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    return RESULTS


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh lab PKI (root, issuing CA, leaves) for this session."""
    directory = tmp_path_factory.mktemp("certs")
    lab_tls(directory, "edge")
    return directory


@pytest.fixture(scope="session")
def tls_for(certs: Path) -> dict[str, Tls]:
    """The lab's certificates by server name: edge, origin, api."""
    return {name: lab_tls(certs, name) for name in ("edge", "origin", "api")}


@pytest.fixture(scope="module")
def procs() -> Iterator[Procs]:
    """A module's started programs, all stopped when the module is done."""
    p = Procs()
    try:
        yield p
    finally:
        p.stop_all()
