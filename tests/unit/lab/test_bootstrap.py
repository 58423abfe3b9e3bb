"""Bootstrap helpers that need no Docker."""

from pathlib import Path

import pytest

from lab import bootstrap
from lab.errors import LabError


def test_apt_mirror_reads_this_machine() -> None:
    """The debootstrap mirror comes from the machine's own apt sources."""
    if not Path("/etc/apt").exists():
        pytest.skip("not a Debian-family machine")
    mirror = bootstrap.apt_mirror()
    assert mirror.startswith(("http://", "https://"))
    assert "security" not in mirror


def test_bad_base_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown LAB_BASE value is refused with the accepted values."""
    monkeypatch.setenv("LAB_BASE", "docker-hub")
    with pytest.raises(LabError, match="expected auto, pull or local"):
        bootstrap.base_image(lambda _m: None)
