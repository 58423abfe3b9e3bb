"""python -m lab.report RUN_DIR: write RUN_DIR/report.html (and --har RUN_DIR/run.har)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lab.errors import LabError
from lab.report import build_report
from lab.report.har import write_har


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m lab.report", description="Write the HTML report of a run folder"
    )
    ap.add_argument("run_dir", type=Path, help="a run folder, e.g. runs/20261122-230842-browse")
    ap.add_argument("--har", action="store_true", help="also write run.har (HAR 1.2)")
    args = ap.parse_args(argv)
    if not args.run_dir.is_dir():
        print(
            f"error: {args.run_dir} is not a folder; pass a run folder under runs/", file=sys.stderr
        )
        return 2
    try:
        print(build_report(args.run_dir))
        if args.har:
            print(write_har(args.run_dir))
    except LabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
