"""Fixtures shared by the unit tests of the HTTPS servers: the lab's PKI in a temp folder."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from lab.pki import ensure_certs
from services.common.tls import client_context


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root CA, the issuing CA and every server's chain, made once per session."""
    directory = tmp_path_factory.mktemp("certs")
    ensure_certs(directory, lambda _line: None)
    return directory


@pytest.fixture
def trust(certs: Path) -> ssl.SSLContext:
    """A client context that trusts only the lab's root CA."""
    return client_context(certs / "ca.crt", env={})
