"""`lab capture`: record the lab's traffic while you explore by hand.

The same capture as a scenario run (all hosts, TLS secrets embedded, hosts
named), started now and stopped by Ctrl-C or after a time limit; the folder
gets a report like a run's, without a client timeline. ``recording`` is the
same capture as a context manager (the pytest plugin's ``weblab.capture()``).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lab import topology
from lab.capture.pcapng import annotate_run
from lab.capture.record import make_capture, seal
from lab.compose import Lab
from lab.report import build_report


@dataclass
class Recording:
    """One live capture's folder; ``report`` is set once the capture is closed."""

    folder: Path
    pcapng: Path
    report: Path | None = None


@contextmanager
def recording(
    lab: Lab, runs_dir: Path, raw: bool = False, title: str = "capture (by hand)"
) -> Iterator[Recording]:
    """Capture the lab's bridge while the body runs; then embed the secrets and build the report."""
    stamp = f"{dt.datetime.now():%Y%m%d-%H%M%S}"
    folder = runs_dir / f"{stamp}-capture"
    n = 1
    while folder.exists():  # two captures in one second (tests do that)
        n += 1
        folder = runs_dir / f"{stamp}-capture-{n}"
    folder.mkdir(parents=True)
    keylog_dir = runs_dir / "keylog"
    keylog_dir.mkdir(exist_ok=True)
    bridges = lab.bridges()
    capture = make_capture(list(bridges.values()), folder / "raw.pcapng", lab.image, raw,
                           list(lab.plan.bridges.values()))  # fmt: skip
    started = time.time()
    rec = Recording(folder, folder / "capture.pcapng")
    capture.start()
    try:
        yield rec
    finally:
        capture.stop()
        seal(folder, lab.plan.networks, bridges, keylog_dir)
    timeline = {"scenario": "capture", "started": started, "finished": time.time(),
                **topology.recorded(lab.plan)}  # fmt: skip
    annotate_run(rec.pcapng, title, timeline)
    annotate_run(folder / "hops.pcapng", title, timeline)
    build_report(folder)
    rec.report = folder / "report.html"


def capture_live(lab: Lab, runs_dir: Path, raw: bool = False, seconds: float | None = None) -> Path:
    with recording(lab, runs_dir, raw) as rec:
        limit = f"for {seconds:g} s" if seconds else "until Ctrl-C"
        print(
            f"capturing on {', '.join(f'{n} ({b})' for n, b in lab.bridges().items())} {limit} "
            "(try `lab dig`, `lab curl`, `lab shell`)",
            flush=True,
        )
        try:
            deadline = time.monotonic() + seconds if seconds else None
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.2)
        except KeyboardInterrupt:
            print("\nstopping the capture", flush=True)
    return rec.folder
