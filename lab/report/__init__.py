"""The HTML report of a run: sequence diagram, waterfall and narration.

``build_report(run_dir)`` reads capture.pcapng (through tshark), timeline.json
and services.log and writes report.html next to them.

Map: ``packets`` reads the capture through tshark (with ``dns_fields`` and
``tls_fields``), ``match`` ties frames to steps, ``narrate`` (with
``narrate_dns`` and ``narrate_tls``) tells the story, ``sequence`` and
``waterfall`` draw it, ``hosts`` names the lifelines, ``encapsulation`` follows
one request hop by hop through hops.pcapng, ``html`` lays out the page, ``har``
writes run.har.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lab.errors import LabError
from lab.report import hosts
from lab.report.encapsulation_html import encapsulation_section
from lab.report.html import page
from lab.report.narrate import narrate
from lab.report.packets import TsharkError, read_messages
from lab.report.sequence import sequence_html
from lab.report.waterfall import waterfall_svg
from lab.topology import plan_of


def service_events(text: str) -> list[dict[str, Any]]:
    """The JSON lines of services.log; other lines (tracebacks, banners) are skipped."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                out.append(obj)
    return out


def build_report(run_dir: Path) -> Path:
    """Write RUN_DIR/report.html and return its path."""
    capture = run_dir / "capture.pcapng"
    if not capture.exists():
        raise LabError(f"{run_dir} has no capture.pcapng; is it a run folder?")
    timeline_file = run_dir / "timeline.json"
    try:
        timeline = json.loads(timeline_file.read_text()) if timeline_file.exists() else {}
        messages = read_messages(capture)
    except (json.JSONDecodeError, TsharkError) as e:
        raise LabError(f"cannot build the report of {run_dir}: {e}") from e
    log = run_dir / "services.log"
    events = service_events(log.read_text(errors="replace")) if log.exists() else []
    with hosts.using(plan_of(timeline)):  # the run's own lab: its subnet, its own services
        try:
            encapsulation = encapsulation_section(run_dir / "hops.pcapng")
        except TsharkError as e:
            raise LabError(f"cannot build the report of {run_dir}: {e}") from e
        html = page(
            run_dir.name,
            timeline,
            messages,
            sequence_html(messages),
            waterfall_svg(timeline),
            narrate(messages, timeline, events),
            encapsulation,
        )
    out = run_dir / "report.html"
    out.write_text(html)
    return out
