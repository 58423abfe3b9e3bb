"""`lab capture`: record the lab's traffic while you explore by hand.

The same capture as a scenario run (all hosts, TLS secrets embedded, hosts
named), started now and stopped by Ctrl-C or after a time limit; the folder
gets a report like a run's, without a client timeline.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from lab.capture.pcapng import annotate_run
from lab.capture.record import client_randoms, collect_keylogs, embed_secrets, make_capture
from lab.compose import Lab
from lab.report import build_report


def capture_live(lab: Lab, runs_dir: Path, raw: bool = False, seconds: float | None = None) -> Path:
    folder = runs_dir / f"{dt.datetime.now():%Y%m%d-%H%M%S}-capture"
    folder.mkdir(parents=True)
    keylog_dir = runs_dir / "keylog"
    keylog_dir.mkdir(exist_ok=True)
    capture = make_capture(lab.bridge(), folder / "raw.pcapng", lab.image, raw)
    started = time.time()
    capture.start()
    limit = f"for {seconds:g} s" if seconds else "until Ctrl-C"
    print(
        f"capturing on {lab.bridge()} {limit} (try `lab dig`, `lab curl`, `lab shell`)", flush=True
    )
    try:
        deadline = time.monotonic() + seconds if seconds else None
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
    except KeyboardInterrupt:
        print("\nstopping the capture", flush=True)
    finally:
        capture.stop()
        collect_keylogs(keylog_dir, [], folder / "keys.log", client_randoms(folder / "raw.pcapng"))
        embed_secrets(folder / "raw.pcapng", folder / "keys.log", folder / "capture.pcapng")
    timeline = {"scenario": "capture", "started": started, "finished": time.time()}
    annotate_run(folder / "capture.pcapng", "capture (by hand)", timeline)
    build_report(folder)
    return folder
