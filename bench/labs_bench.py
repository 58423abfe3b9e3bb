"""``python -m bench.labs_bench [--labs N] [--browse] [--keep]``: N labs on this machine.

Starts N labs one after another, each its own Compose project
(``weblab-bench-1`` ... ``weblab-bench-N``) in a /24 chosen free
automatically (lab/subnets.py), beside whatever lab already runs here (the
default one is left alone and counted as "already running"). For each it
reports the subnet, the seconds `lab up` took with the labs before it
running, and after all are up the memory of each (``docker stats
--no-stream``, summed over its containers) and in total. ``--browse`` runs
the browse scenario in each before the memory is read (a lab that has
served a page, not an idle one). Then it removes the labs it started, and
only those, unless ``--keep``.

Bounded: at most 4 labs (``--labs``), each start waits at most 180 s for its
health checks. Figures go to stdout and runs/bench/labs_bench.json; nothing
is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from lab import fleet
from lab.compose import ROOT, Lab
from lab.errors import LabError

MAX_LABS = 4


def projects(n: int) -> list[str]:
    return [f"weblab-bench-{i}" for i in range(1, n + 1)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.labs_bench", description=__doc__)
    ap.add_argument("--labs", type=int, default=2, help=f"how many (1..{MAX_LABS}, default 2)")
    ap.add_argument("--browse", action="store_true", help="run browse in each before measuring")
    ap.add_argument("--keep", action="store_true", help="leave the labs running at the end")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "bench" / "labs_bench.json")
    args = ap.parse_args(argv)
    if not 1 <= args.labs <= MAX_LABS:
        ap.error(f"--labs must be 1..{MAX_LABS}")
    os.environ.pop("LAB_SUBNET", None)  # every lab's subnet is chosen free automatically
    already = [p for p in ("weblab", os.environ.get("LAB_PROJECT", "")) if p and Lab(p).running()]
    labs = [Lab(project=p) for p in projects(args.labs)]
    already = sorted(set(already))
    rows: list[dict[str, Any]] = []
    try:
        for i, lab in enumerate(labs):
            lab.down(volumes=True)  # a previous bench that was interrupted
            print(f"starting {lab.project} ({len(already) + i} lab(s) running) ...", flush=True)
            started = fleet.start(lab)
            print(f"  {lab.project}: {started.subnet}, up in {started.seconds:.1f} s", flush=True)
            rows.append({"project": lab.project, "subnet": started.subnet,
                         "start_seconds": started.seconds,
                         "labs_running_before": len(already) + i})  # fmt: skip
        if args.browse:
            from lab.scenario import spec
            from lab.scenario.runner import run_scenario

            for lab, row in zip(labs, rows, strict=True):
                result = run_scenario(lab, spec.find("browse"), ROOT / "runs")
                row["browse_ok"] = result.ok
                row["browse_seconds"] = round(result.seconds, 1)
        for lab, row in zip(labs, rows, strict=True):
            row["memory_mib"], row["containers"] = fleet.memory_mib(lab.project)
        for project in already:
            used, n = fleet.memory_mib(project)
            rows.append({"project": project, "memory_mib": used, "containers": n,
                         "started_here": False})  # fmt: skip
    except LabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            for lab in labs:
                lab.down(volumes=True)
    ours = [float(r["memory_mib"]) for r in rows if "start_seconds" in r]
    doc = {
        "already_running": already,
        "labs": rows,
        "memory_mib_per_lab_mean": round(sum(ours) / len(ours), 1) if ours else 0.0,
    }
    print(f"\n{'project':<16} {'subnet':<16} {'start s':>8} {'MiB':>8} {'containers':>10}")
    for r in rows:
        first = f"{r['project']!s:<16} {r.get('subnet', '-')!s:<16}"
        rest = f"{r.get('start_seconds', '-')!s:>8} {r['memory_mib']!s:>8} {r['containers']!s:>10}"
        print(f"{first} {rest}")
    print(f"memory per lab started here: {doc['memory_mib_per_lab_mean']} MiB (mean)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"figures: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
