"""lab.fleet: docker stats' memory figures read in MiB (no Docker)."""

from __future__ import annotations

import pytest

from lab.fleet import mib


@pytest.mark.parametrize(
    ("usage", "expected"),
    [("12.5MiB / 1.94GiB", 12.5), ("1.5GiB / 8GiB", 1536.0), ("512KiB / 1GiB", 0.5),
     ("0B / 0B", 0.0), ("10MB / 1GB", 10e6 / 2**20)],
)  # fmt: skip
def test_used_part_in_mib(usage: str, expected: float) -> None:
    """The used half of MemUsage, binary and decimal units alike, in MiB."""
    assert mib(usage) == pytest.approx(expected)


def test_garbage_is_refused() -> None:
    """A row that is not a memory figure is an error, not a zero."""
    with pytest.raises(ValueError, match="not a docker stats memory figure"):
        mib("--")
