"""The zone servers add a user's records (``--extra-records``, ``LAB_ZONES_EXTRA``) at load."""

from __future__ import annotations

from pathlib import Path

import pytest
from dnslib import QTYPE

import services.dns.__main__ as program
from services.dnscore.masterfile import ZoneFileError

ZONES = Path(__file__).resolve().parents[3] / "services" / "zones"


def test_env_names_the_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """LAB_ZONES_EXTRA is --extra-records' default; unset, there is none."""
    args = program.parse_args(["--zone", "x.zone"])
    assert args.extra_records is None
    monkeypatch.setenv("LAB_ZONES_EXTRA", str(tmp_path))
    assert program.parse_args(["--zone", "x.zone"]).extra_records == tmp_path


def test_records_join_their_zone_and_are_checked(tmp_path: Path) -> None:
    """example.com.records adds to example.com only; a record breaking the zone's rules is
    refused with the records file and its line, as a zone file's would be."""
    (tmp_path / "example.com.records").write_text("shop.example.com. 300 IN A 198.51.100.200\n")
    zones = program.load_zones(
        [str(ZONES / "example.com.zone"), str(ZONES / "edgecdn.net.zone")], "198.19.3", tmp_path
    )
    shop = zones.zones["example.com."].get("shop.example.com.", QTYPE.A)
    assert [str(rr.rdata) for rr in shop] == ["198.19.3.200"]  # renumbered like the zone
    bad = tmp_path / "example.com.records"
    bad.write_text("; a comment\nwww.example.com. 300 IN A 198.51.100.200\n")
    with pytest.raises(ZoneFileError, match="CNAME and other data"):
        program.load_zones([str(ZONES / "example.com.zone")], None, tmp_path)
