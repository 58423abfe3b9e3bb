"""Run the project's client where the lab's clients run: in the lab's client container.

The lab's networks are internal and its names resolve only through the lab
resolver, so the client module is sent into the client container (its source
as ``python -c``) and runs there, with the lab's DNS and the lab CA.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SOURCE = (Path(__file__).parent / "retry_client.py").read_text()
CA_IN_CLIENT = "/certs/ca.crt"  # the lab mounts its certs/ there


@pytest.fixture
def run_client(weblab) -> Callable[..., dict[str, Any]]:
    """Run retry_client.py in the lab's client container; its JSON result."""

    def run(url: str, *args: str) -> dict[str, Any]:
        r = weblab.exec("client", "python", "-c", SOURCE, url, "--cafile", CA_IN_CLIENT, *args)
        assert r.stdout, f"the client printed nothing (exit {r.returncode}): {r.stderr}"
        return json.loads(r.stdout)

    return run
