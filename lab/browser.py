"""The browser image (the lab image plus Chromium), built on first use.

It is rebuilt when the lab image it was built on changes, so the programs in
it (services/client/chromium.py) are always the lab's current ones.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

from lab.compose import ROOT
from lab.errors import LabError

IMAGE = "weblab/browser:latest"
LABEL = "org.weblab.lab-image"


def _image_id(name: str) -> str:
    r = subprocess.run(["docker", "image", "inspect", name], capture_output=True, text=True,
                       check=False)  # fmt: skip
    if r.returncode != 0:
        return ""
    return str(json.loads(r.stdout)[0]["Id"])


def _built_on(name: str) -> str:
    template = f'{{{{index .Config.Labels "{LABEL}"}}}}'
    r = subprocess.run(["docker", "image", "inspect", "-f", template, name],
                       capture_output=True, text=True, check=False)  # fmt: skip
    return r.stdout.strip() if r.returncode == 0 else ""


def ensure_image(lab_image: str, say: Callable[[str], None] = print) -> str:
    """The browser image's name, after building it if it is missing or stale."""
    base = _image_id(lab_image)
    if not base:
        raise LabError(f"the lab image {lab_image} is missing; run `lab bootstrap`")
    if _built_on(IMAGE) == base:
        return IMAGE
    say(f"building {IMAGE} on {lab_image}: Debian's chromium from apt (about 30 s, once)")
    r = subprocess.run(
        ["docker", "build", "-q", "-t", IMAGE, "--build-arg", f"LAB_IMAGE={lab_image}",
         "--label", f"{LABEL}={base}", "-f", str(ROOT / "services" / "browser" / "Dockerfile"),
         str(ROOT / "services" / "browser")],
        capture_output=True, text=True, check=False, timeout=900,
    )  # fmt: skip
    if r.returncode != 0:
        raise LabError(f"building {IMAGE} failed: {r.stderr.strip()[-800:]}")
    return IMAGE
