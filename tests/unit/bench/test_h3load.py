"""h3load's summary figures."""

from __future__ import annotations

from bench.h3load import percentile


def test_percentile_is_nearest_rank() -> None:
    """h3load's p50 and p99 are values it measured, 0 when nothing was."""
    assert percentile([], 0.5) == 0.0
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(i) for i in range(100)], 0.99) == 99.0
