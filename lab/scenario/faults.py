"""Faults a scenario injects into the running lab, and their removal.

Every fault is applied before the first step and removed after the last, also
when the run fails or is interrupted, so the lab is left as it was. Packet
faults use iptables inside the target's container (it has NET_ADMIN), which
changes that host's view only: the capture on the bridge still shows what the
others sent to it and what never came back.

Added delay uses the same mechanism as the profile's link delays: the
host's link delay daemon (services/linkdelay) holds everything the host receives
that much longer. If the daemon does not answer, the fault is not applied and
the run says so: nothing pretends.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

from lab import distance, topology
from lab.compose import Lab
from lab.errors import LabError
from lab.scenario.spec import Fault

Say = Callable[[str], None]
ONE_SEGMENT = 1500  # gso_max_size: the interface's MTU, one segment per frame
OFFLOADED = 65536  # the veth default
API_ADMIN_TOKEN = "lab-admin-token"  # compose.yaml gives the API the same value


def _iptables_rules(fault: Fault, plan: topology.Plan = topology.DEFAULT_PLAN) -> list[list[str]]:
    """Rules for INPUT and OUTPUT, sparing loopback so health checks still work.

    A drop is one rule on the receiver's INPUT: iptables evaluates a rule's
    matches in order, so the nth counter only counts packets that passed the
    address, port and length matches before it, and with --every 1000000 it
    fires once. Not on the sender's OUTPUT: there a DROP is an error returned to
    the sending socket, and TCP simply sends the segment again at once, with no
    loss on the wire to recover from (UDP has no such retry). The drop matches
    the sender's address in the lab's PLAN.
    """
    if fault.kind == "drop":
        s = dict(fault.settings)
        # connbytes counts what each connection has brought so far (conntrack's own
        # accounting, which the match turns on): a page's small first connection never
        # reaches after_bytes, so the drop lands on the one that carries the images.
        after = int(s.get("after_bytes", 0))
        per_conn = ["-m", "connbytes", "--connbytes", f"{after}:", "--connbytes-dir",
                    "reply", "--connbytes-mode", "bytes"] if after else []  # fmt: skip
        return [
            ["INPUT", "-s", plan.address(fault.service), "-p", fault.proto,
             "--sport", str(int(s["port"])), "-m", "length", "--length",
             f"{int(s['min_bytes'])}:65535", *per_conn, "-m", "statistic", "--mode", "nth",
             "--every", "1000000", "--packet", str(int(s["packet"]) - 1), "-j", "DROP"],
        ]  # fmt: skip
    match = []
    if fault.kind == "loss":
        match = [
            "-m",
            "statistic",
            "--mode",
            "random",
            "--probability",
            f"{fault.percent / 100:.4f}",
        ]
    rules = [
        ["INPUT", "!", "-i", "lo", *match, "-j", "DROP"],
        ["OUTPUT", "!", "-o", "lo", *match, "-j", "DROP"],
    ]
    if plan.by_service[fault.service].router:
        # A router's traffic is what it forwards: FORWARD drops it (an outage on the way).
        rules.append(["FORWARD", *match, "-j", "DROP"])
    return rules


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


class Faults:
    """The faults of one run: apply() them, then remove() them in reverse order."""

    def __init__(self, lab: Lab, faults: tuple[Fault, ...]) -> None:
        self.lab = lab
        self.faults = faults
        self.applied: list[Fault] = []
        self.notes: list[str] = []

    def apply(self, say: Say, before_step: int = 1) -> None:
        """Apply the faults due before step ``before_step``."""
        for fault in self.faults:
            if fault.before_step == before_step:
                self._apply(fault, say)

    def _iptables(self, service: str, op: str, rule: list[str]) -> None:
        chain, *rest = rule
        r = self.lab.exec(service, "iptables", op, chain, *rest)
        if r.returncode != 0:
            raise LabError(f"iptables {op} {chain} in {service} failed: {r.stderr.strip()}")

    def _apply(self, fault: Fault, say: Say) -> None:
        svc = fault.service
        if fault.kind == "stop":
            say(f"fault: stopping {svc}")
            subprocess.run(
                ["docker", "stop", "-t", "1", self.lab.container_id(svc)],
                check=True,
                capture_output=True,
            )
        elif fault.kind == "pause":
            say(f"fault: pausing {svc}")
            subprocess.run(
                ["docker", "pause", self.lab.container_id(svc)], check=True, capture_output=True
            )
        elif fault.kind in ("blackhole", "loss"):
            what = (
                "dropping every packet"
                if fault.kind == "blackhole"
                else f"dropping {fault.percent:g}% of packets at random"
            )
            say(f"fault: {what} in and out of {svc} (iptables)")
            for rule in _iptables_rules(fault, self.lab.plan):
                self._iptables(svc, "-I", rule)
        elif fault.kind == "drop":
            s = dict(fault.settings)
            at_least = f" of {int(s['min_bytes'])} bytes or more" if s["min_bytes"] else ""
            if s.get("after_bytes"):
                at_least += f" once its connection has brought {int(s['after_bytes'])} bytes"
            note = (
                f"losing the {_ordinal(int(s['packet']))} {fault.proto.upper()} packet"
                f"{at_least} {svc} sends from port {int(s['port'])} to {fault.to}, once "
                f"(iptables nth in {fault.to}); {svc} sends one segment per packet for the run"
            )
            say("fault: " + note)
            self.notes.append(note)
            self._segments(svc, ONE_SEGMENT)
            for rule in _iptables_rules(fault, self.lab.plan):
                self._iptables(fault.to, "-I", rule)
        elif fault.kind == "api":
            doc = {
                k: (int(v) if k in ("status", "retry_after", "latency_ms") else v)
                for k, v in fault.settings
            }
            say(f"fault: the API answers {json.dumps(doc)} (its /__fault switch)")
            self._api_switch("POST", json.dumps(doc))
        elif fault.kind == "delay":
            try:
                doc = distance.set_extra(self.lab, svc, fault.ms)
            except LabError as e:
                note = f"delay {fault.ms} ms on {svc} NOT applied ({e}); the run goes on without it"
                say("fault: " + note)
                self.notes.append(note)
                return
            how = {"nfqueue": "userspace NFQUEUE", "netem": "netem"}.get(str(doc.get("mechanism")))
            how = how or "link delay daemon"
            note = f"delay {fault.ms} ms on everything {svc} receives ({how})"
            say("fault: " + note)
            self.notes.append(note)
        self.applied.append(fault)

    def remove(self, say: Say) -> None:
        """Undo every applied fault; keep going past errors, then report them."""
        errors = []
        for fault in reversed(self.applied):
            try:
                self._remove(fault, say)
            except (LabError, subprocess.CalledProcessError) as e:
                errors.append(f"{fault.kind} on {fault.service}: {e}")
        self.applied.clear()
        if errors:
            raise LabError(
                "could not undo every fault: "
                + "; ".join(errors)
                + " (`lab down && lab up` resets the lab)"
            )

    def _remove(self, fault: Fault, say: Say) -> None:
        svc = fault.service
        if fault.kind == "stop":
            say(f"undo: starting {svc} again")
            cid = self._any_container(svc)
            subprocess.run(["docker", "start", cid], check=True, capture_output=True)
            self.lab.wait_healthy(svc)
        elif fault.kind == "pause":
            say(f"undo: unpausing {svc}")
            subprocess.run(
                ["docker", "unpause", self.lab.container_id(svc)], check=True, capture_output=True
            )
        elif fault.kind == "drop":
            say(f"undo: removing the drop rule in {fault.to}; {svc} back to offloaded segments")
            for rule in _iptables_rules(fault, self.lab.plan):
                self._iptables(fault.to, "-D", rule)
            self._segments(svc, OFFLOADED)
        elif fault.kind in ("blackhole", "loss"):
            say(f"undo: removing the iptables rules in {svc}")
            for rule in _iptables_rules(fault, self.lab.plan):
                self._iptables(svc, "-D", rule)
        elif fault.kind == "delay":
            say(f"undo: no added delay on {svc}")
            distance.set_extra(self.lab, svc, 0)
        elif fault.kind == "api":
            say("undo: the API's faults switched off")
            self._api_switch("DELETE", None)

    def _segments(self, service: str, size: int) -> None:
        """Set the largest segment the kernel hands the host's interface in one piece.

        Between containers the veth pair carries a TCP send of up to 64 KiB as one
        frame (segmentation offload: nothing ever cuts it into MTU-sized pieces),
        so one dropped "packet" would be several segments. At ONE_SEGMENT every
        frame is one MSS, as on a real wire.
        """
        self.lab.exec(service, "ip", "link", "set", "dev",
                      "eth0", "gso_max_size", str(size), check=True)  # fmt: skip

    def _api_switch(self, method: str, body: str | None) -> None:
        """Flip the API's fault switch from the client, with the lab's admin token."""
        cmd = [
            "curl",
            "-sS",
            "-f",
            "-X",
            method,
            "--cacert",
            "/certs/ca.crt",
            "-H",
            f"Authorization: Bearer {API_ADMIN_TOKEN}",
            "https://api-origin.example.com/__fault",
        ]
        if body is not None:
            cmd += ["-H", "Content-Type: application/json", "-d", body]
        r = self.lab.exec("client", *cmd)
        if r.returncode != 0:
            raise LabError(
                f"the API's fault switch refused {method}: {(r.stderr or r.stdout).strip()}"
            )

    def _any_container(self, service: str) -> str:
        r = subprocess.run(
            [
                "docker",
                "ps",
                "-aq",
                "--filter",
                f"label=com.docker.compose.project={self.lab.project}",
                "--filter",
                f"label=com.docker.compose.service={service}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        ids = r.stdout.split()
        if not ids:
            raise LabError(f"no container for {service}")
        return ids[0]
