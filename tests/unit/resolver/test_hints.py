"""Root hints generated from the root zone, deterministic, and read back."""

import subprocess
import sys
from pathlib import Path

import pytest

from services.dnscore.masterfile import ZoneFileError, parse_master
from services.resolver.hints import RootServer, load_hints, render, root_servers

ROOT_DIR = Path(__file__).resolve().parents[3]
ROOT_ZONE = ROOT_DIR / "services" / "zones" / "root.zone"


def test_root_servers_from_root_zone() -> None:
    """The root zone's apex NS names and their glue become the hints."""
    assert load_hints(ROOT_ZONE) == [
        RootServer("a.root-servers.net.", ("198.51.100.4",)),
        RootServer("b.root-servers.net.", ("198.51.100.5",)),
    ]


def test_rendered_hints_read_back(tmp_path: Path) -> None:
    """The generated named.root text parses back to the same servers."""
    servers = load_hints(ROOT_ZONE)
    path = tmp_path / "root.hints"
    path.write_text(render(servers, "services/zones/root.zone"))
    assert load_hints(path) == servers
    assert "A.ROOT-SERVERS.NET.         3600000   A     198.51.100.4" in path.read_text()


def test_generation_is_deterministic() -> None:
    """Two runs of the generator print identical bytes (image builds reproduce it)."""
    cmd = [sys.executable, "-m", "services.resolver.hints", "services/zones/root.zone"]
    runs = [
        subprocess.run(cmd, cwd=ROOT_DIR, capture_output=True, check=True).stdout for _ in range(2)
    ]
    assert runs[0] == runs[1]
    assert b"NS    A.ROOT-SERVERS.NET." in runs[0]


def test_usage_and_bad_file_exit_codes(tmp_path: Path) -> None:
    """No argument is a usage error (2); a file without root NS is exit 1."""
    base = [sys.executable, "-m", "services.resolver.hints"]
    assert subprocess.run(base, cwd=ROOT_DIR, capture_output=True, check=False).returncode == 2
    empty = tmp_path / "empty.hints"
    empty.write_text("; nothing\n")
    done = subprocess.run(
        [*base, str(empty)], cwd=ROOT_DIR, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert "not a hints file" in done.stderr


def test_root_ns_without_address_is_rejected() -> None:
    """Hints naming a root server without an address are refused."""
    with pytest.raises(ZoneFileError):
        root_servers(parse_master(". 3600000 NS a.root-servers.net.\n"))
