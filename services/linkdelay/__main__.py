"""``python -m services.linkdelay [--plan FILE] [--mechanism auto|netem|nfqueue]``.

Runs beside each lab service, in the same container (services/entrypoint.sh
starts it), and holds what askers send to the host's ports for their round trip. Where the
kernel has netem (probed on lo at start), the plan becomes tc classes
(netem.py) and the kernel does the holding. Where it has none (this build
machine's kernel), packets the plan delays are sent to an NFQUEUE (iptables
``-j NFQUEUE``) and this daemon gives each its verdict (accept) once its
round trip has passed: a userspace netem. SIGHUP re-reads the plan and the
fault file; SIGTERM releases every held packet, removes the rules and
exits. The state goes to a status file that ``python -m
services.linkdelay.ctl status`` prints, mechanism included.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from services.common.logs import log_event, setup
from services.linkdelay.hold import Holder, Rule, ipv4_endpoints
from services.linkdelay.netem import tc_commands
from services.linkdelay.plan import HostPlan, PlanError, hooks, load_plan, rules

logger = logging.getLogger("services.linkdelay")
DEFAULT_PLAN = Path("/linkdelay/plan.json")
RUN_DIR = Path("/run/linkdelay")
NO_DELAY = Rule(0.0)
SAMPLES = 4096  # lateness samples kept for the status figures
# The event loop's timers wake up to a millisecond late (epoll's timeout is in
# whole milliseconds, rounded up), which alone would add ~1 ms to every hold.
# So a release is scheduled this much early and the last stretch is slept
# precisely (nanosleep); packets arriving meanwhile wait in the kernel's queue.
EARLY = 0.0015


def local_addresses() -> set[str]:
    """This host's IPv4 addresses (``ip -4 -o addr``), loopback excluded."""
    out = subprocess.run(
        ["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=True, timeout=10
    ).stdout
    found = set()
    for line in out.splitlines():
        words = line.split()
        if "inet" in words:
            address = words[words.index("inet") + 1].split("/")[0]
            if not address.startswith("127."):
                found.add(address)
    return found


def iptables(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["iptables", "-w", *args], capture_output=True, text=True, check=check)


def tc(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tc", *args], capture_output=True, text=True, check=check, timeout=10)


def interfaces() -> list[str]:
    """The host's network interfaces but loopback (``eth0@if12`` -> ``eth0``)."""
    out = subprocess.run(
        ["ip", "-o", "link", "show"], capture_output=True, text=True, check=True, timeout=10
    ).stdout
    names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]
    return [n for n in names if n != "lo"]


def has_netem() -> bool:
    """Whether this kernel takes a netem qdisc (tried on lo, removed at once)."""
    if tc("qdisc", "add", "dev", "lo", "root", "netem", "delay", "0ms", check=False).returncode:
        return False
    tc("qdisc", "del", "dev", "lo", "root", check=False)
    return True


class Daemon:
    def __init__(self, plan_path: Path, run_dir: Path, queue: int, mechanism: str) -> None:
        self.mechanism = mechanism  # "netem" or "nfqueue"
        self.plan_path = plan_path
        self.run_dir = run_dir
        self.queue = queue
        self.plan: HostPlan | None = None
        self.extra_ms = 0.0
        self.holder = Holder()
        self.loop = asyncio.get_running_loop()
        self.held: set[Any] = set()
        self.counts = {"held": 0, "passed": 0, "not_ipv4": 0}
        self.lateness_us: list[float] = []
        self.digest = ""
        self.error = ""

    def setup_chains(self) -> None:
        for builtin, chain in hooks():
            iptables("-N", chain, check=False)  # exists after a daemon restart: fine
            if iptables("-C", builtin, "-j", chain, check=False).returncode != 0:
                iptables("-A", builtin, "-j", chain)

    def remove_chains(self) -> None:
        for builtin, chain in hooks():
            iptables("-D", builtin, "-j", chain, check=False)
            iptables("-F", chain, check=False)
            iptables("-X", chain, check=False)
        if self.mechanism == "netem":
            for dev in interfaces():
                tc("qdisc", "del", "dev", dev, "root", check=False)

    def apply(self) -> None:
        """(Re)read the plan and the fault file; replace our rules. Bad input keeps the old."""
        try:
            plan = load_plan(self.plan_path, local_addresses())
            extra = self._extra()
        except (PlanError, OSError, ValueError) as e:
            self.error = str(e)
            log_event(logger, "linkdelay_bad_plan", error=self.error, kept=self.digest)
            self.write_status()
            return
        for _, chain in hooks():
            iptables("-F", chain)
        if self.mechanism == "netem":
            for dev in interfaces():
                tc("qdisc", "del", "dev", dev, "root", check=False)  # none yet: fine
                for argv in tc_commands(plan, extra, dev):
                    tc(*argv)
        for argv in rules(plan, self.queue, extra):
            if self.mechanism == "netem" and "NFQUEUE" in argv:
                continue  # the kernel holds the packets; only loss stays with iptables
            iptables(*argv)
        self.plan, self.extra_ms, self.error = plan, extra, ""
        self.holder.forget()
        raw = self.plan_path.read_bytes() if self.plan_path.exists() else b""
        self.digest = hashlib.sha256(raw + f"|{extra}".encode()).hexdigest()[:16]
        log_event(
            logger,
            "linkdelay_applied",
            profile=plan.profile if plan else "lan",
            peers=len(plan.peers) if plan else 0,
            loss_pct=plan.loss_pct if plan else 0.0,
            extra_ms=extra,
            digest=self.digest,
        )
        self.write_status()

    def _extra(self) -> float:
        path = self.run_dir / "extra.json"
        if not path.exists():
            return 0.0
        value = json.loads(path.read_text()).get("extra_ms", 0)
        if not isinstance(value, int | float) or not 0 <= value <= 10_000:
            raise ValueError(f"{path}: extra_ms must be 0..10000, not {value!r}")
        return float(value)

    def on_packet(self, pkt: Any) -> None:
        """NFQUEUE callback: accept now, or at the packet's release time."""
        ends = ipv4_endpoints(pkt.get_payload())
        if ends is None:
            self.counts["not_ipv4"] += 1
            pkt.accept()
            return
        src, _, proto, _, dport = ends
        rule = self.plan.rule_for(proto, dport, src) if self.plan else None
        if rule is None and not self.extra_ms:
            self.counts["passed"] += 1
            pkt.accept()
            return
        now = self.loop.time()
        at = self.holder.release_at(src, now, rule or NO_DELAY, self.extra_ms)
        self.counts["held"] += 1
        self.held.add(pkt)
        self.loop.call_at(at - EARLY, self.release, pkt, at)

    def release(self, pkt: Any, due: float) -> None:
        if pkt not in self.held:
            return
        wait = due - self.loop.time()
        if wait > 0:
            time.sleep(wait)  # at most EARLY: the loop's timer cannot be this precise
        self.held.discard(pkt)
        pkt.accept()
        self.lateness_us.append((self.loop.time() - due) * 1e6)
        if len(self.lateness_us) > SAMPLES:
            del self.lateness_us[: SAMPLES // 2]

    def release_all(self) -> None:
        for pkt in list(self.held):
            pkt.accept()
        self.held.clear()

    def write_status(self) -> None:
        late = sorted(self.lateness_us)

        def pct(q: float) -> float | None:
            return round(late[min(len(late) - 1, int(q * len(late)))], 1) if late else None

        plan = self.plan
        doc = {
            "mechanism": self.mechanism,
            "pid": os.getpid(),
            "time": time.time(),
            "digest": self.digest,
            "error": self.error,
            "profile": plan.profile if plan else "lan",
            "service": plan.service if plan else "",
            "address": plan.address if plan else "",
            "serves": sorted(f"{'tcp' if p == 6 else 'udp'}/{n}" for p, n in plan.serves)
            if plan
            else [],
            "peers": {k: r.delay_ms for k, r in sorted(plan.peers.items())} if plan else {},
            "loss_pct": plan.loss_pct if plan else 0.0,
            "extra_ms": self.extra_ms,
            "counts": dict(self.counts),
            "late_us_p50": pct(0.5),
            "late_us_p99": pct(0.99),
        }
        tmp = self.run_dir / "status.json.tmp"
        tmp.write_text(json.dumps(doc))
        tmp.replace(self.run_dir / "status.json")


async def serve(args: argparse.Namespace) -> int:
    mechanism = args.mechanism
    if mechanism == "auto":
        mechanism = "netem" if has_netem() else "nfqueue"
    args.run_dir.mkdir(parents=True, exist_ok=True)
    daemon = Daemon(args.plan, args.run_dir, args.queue, mechanism)
    nfq: Any = None
    if mechanism == "nfqueue":
        from netfilterqueue import NetfilterQueue  # C extension: only in the lab image

        nfq = NetfilterQueue()
        nfq.bind(args.queue, daemon.on_packet, max_len=4096)
        daemon.loop.add_reader(nfq.get_fd(), nfq.run, False)
    daemon.setup_chains()
    daemon.apply()
    (args.run_dir / "pid").write_text(str(os.getpid()))
    stop = asyncio.Event()
    daemon.loop.add_signal_handler(signal.SIGHUP, daemon.apply)
    for sig in (signal.SIGTERM, signal.SIGINT):
        daemon.loop.add_signal_handler(sig, stop.set)
    log_event(logger, "linkdelay_started", mechanism=mechanism, plan=str(args.plan))
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=2.0)
        daemon.write_status()
    daemon.remove_chains()
    daemon.release_all()
    if nfq is not None:
        daemon.loop.remove_reader(nfq.get_fd())
        nfq.unbind()
    log_event(logger, "linkdelay_stopped", **daemon.counts)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.linkdelay", description=__doc__)
    parser.add_argument("--plan", type=Path, default=DEFAULT_PLAN)
    parser.add_argument("--run-dir", type=Path, default=RUN_DIR)
    parser.add_argument("--queue", type=int, default=7, help="NFQUEUE number (default 7)")
    parser.add_argument(
        "--mechanism",
        choices=("auto", "netem", "nfqueue"),
        default=os.environ.get("LAB_LINKDELAY_MECHANISM", "auto"),
        help="auto: netem where the kernel has it, else NFQUEUE (env LAB_LINKDELAY_MECHANISM)",
    )
    args = parser.parse_args(argv)
    setup("linkdelay")
    try:
        return asyncio.run(serve(args))
    except (OSError, subprocess.CalledProcessError, ImportError) as e:
        # Without the daemon no delay is applied (--queue-bypass lets packets through);
        # the missing status file tells the orchestrator so.
        logger.error("linkdelay cannot run", extra={"event": "linkdelay_error", "error": str(e)})
        return 1


if __name__ == "__main__":
    sys.exit(main())
