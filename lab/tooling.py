"""Other people's tools the tests and benchmarks measure the lab against.

Peers (nginx, NSD, Unbound), load generators (wrk, h2load, dnsperf), DNS
clients (kdig, drill), a browser for the report test (Chromium) and the
HTTP cache conformance suite (npm ``http-cache-tests``). Installed only when
missing; Debian packages are installed with services kept from starting
(a policy-rc.d that says no), because the tests start each peer themselves,
on loopback or in a namespace, with their own configuration.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from lab.errors import LabError

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "build" / "node"
CACHE_TESTS = "http-cache-tests@0.4.5"

# command -> Debian package
APT_TOOLS = {
    "nginx": "nginx-light",
    "wrk": "wrk",
    "h2load": "nghttp2-client",
    "caddy": "caddy",
    "dnsperf": "dnsperf",
    "nsd": "nsd",
    "unbound": "unbound",
    "kdig": "knot-dnsutils",
    "drill": "ldnsutils",
    "dig": "bind9-dnsutils",
    "chromium": "chromium",
}

Say = Callable[[str], None]


def missing_apt_tools() -> list[str]:
    found = {cmd: shutil.which(cmd) or (Path("/usr/sbin") / cmd).exists() for cmd in APT_TOOLS}
    return sorted({APT_TOOLS[c] for c, ok in found.items() if not ok})


def _apt_install(packages: list[str], say: Say) -> None:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise LabError(
            "test tools missing: "
            + " ".join(packages)
            + "; install them (apt-get install "
            + " ".join(packages)
            + ")"
        )
    policy = Path("/usr/sbin/policy-rc.d")
    had_policy = policy.exists()
    if not had_policy:
        # 101 = "action not allowed": package scripts must not start nginx,
        # nsd or unbound on this machine's ports.
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        say("apt-get update")
        subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True, env=env)
        say("apt-get install " + " ".join(packages))
        r = subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if r.returncode != 0:
            raise LabError(f"apt-get install failed: {r.stderr.strip()[-800:]}")
    finally:
        if not had_policy:
            policy.unlink()


def cache_tests_dir() -> Path:
    return NODE_DIR / "node_modules" / "http-cache-tests"


def _npm_install(say: Say) -> None:
    if shutil.which("npm") is None:
        raise LabError(
            "npm is missing; install Node.js (apt-get install npm) for the "
            "HTTP cache conformance suite"
        )
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    say(f"npm install {CACHE_TESTS} into {NODE_DIR.relative_to(ROOT)}")
    r = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(NODE_DIR), CACHE_TESTS],
        capture_output=True,
        text=True,
        check=False,
    )
    if r.returncode != 0:
        raise LabError(f"npm install {CACHE_TESTS} failed: {r.stderr.strip()[-800:]}")


def ensure(say: Say) -> str:
    """Install whatever test tool is missing; say what was done."""
    done = []
    missing = missing_apt_tools()
    if missing:
        _apt_install(missing, say)
        done.append("installed " + " ".join(missing))
    if not cache_tests_dir().exists():
        _npm_install(say)
        done.append(f"installed {CACHE_TESTS}")
    return (
        "; ".join(done)
        or "already installed: " + ", ".join(sorted(set(APT_TOOLS.values()))) + f", {CACHE_TESTS}"
    )
