"""tshark's fields for the frames a display filter keeps: the checks' one way to read a capture."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

from lab.errors import LabError


def rows(capture: Path, display_filter: str, fields: Sequence[str]) -> Iterator[list[str]]:
    """Each kept frame's FIELDS, in capture order ("" for a field the frame lacks)."""
    args = [x for f in fields for x in ("-e", f)]
    r = subprocess.run(
        ["tshark", "-r", str(capture), "-Y", display_filter, "-T", "fields", *args],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if r.returncode != 0:
        raise LabError(f"tshark could not read {capture}: {r.stderr.strip()[-400:]}")
    for line in r.stdout.splitlines():
        yield (line.split("\t") + [""] * len(fields))[: len(fields)]
