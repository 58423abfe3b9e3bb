"""pcapng annotation: names, file comment and packet comments that tshark reads."""

import shutil
import subprocess
from pathlib import Path

import pytest

from lab.capture.pcapng import (
    DSB,
    NRB,
    add_names_and_comments,
    first_frame_at,
    lab_names,
    packet_times,
    read_blocks,
    step_comments,
)

from .conftest import FLAT, SAMPLE, needs_tshark

CAPTURE = SAMPLE / "capture.pcapng"


def _tshark(*args: str) -> str:
    r = subprocess.run(["tshark", *args], capture_output=True, text=True, check=True)
    return r.stdout


@pytest.fixture
def annotated(tmp_path: Path) -> Path:
    """The sample capture with lab names, a file comment and two frame comments."""
    out = tmp_path / "capture.pcapng"
    add_names_and_comments(
        CAPTURE,
        out,
        lab_names(FLAT),  # the sample is a flat run: the plan its timeline gives
        "weblab browse 2026-11-22 23:08:46 UTC",
        {1: "step 1: browse https://www.example.com/ begins", 38: "dns 2"},
    )
    return out


def test_blocks_kept_and_nrb_added(annotated: Path) -> None:
    """One NRB is added after the IDB; the Decryption Secrets Block stays, byte for byte."""
    _, before = read_blocks(CAPTURE.read_bytes())
    _, after = read_blocks(annotated.read_bytes())
    assert [b.type for b in after].count(NRB) == 1
    assert len(after) == len(before) + 1
    assert [b.body for b in after if b.type == DSB] == [b.body for b in before if b.type == DSB]


def test_packet_times_and_first_frame() -> None:
    """Timestamps come out in seconds; the first frame at or after a time is found."""
    times = packet_times(CAPTURE)
    assert len(times) == 70
    assert times == sorted(times)
    assert first_frame_at(times, times[37]) == 38
    assert first_frame_at(times, times[0] - 1) == 1
    assert first_frame_at(times, times[-1] + 1) is None


def test_step_comments_mark_request_starts() -> None:
    """Each request of the timeline gets a comment on the first frame at its start."""
    import json

    timeline = json.loads((SAMPLE / "timeline.json").read_text())
    notes = step_comments(packet_times(CAPTURE), timeline["fetches"])
    assert notes[1] == "request 1: GET https://www.example.com/ begins"
    assert len(notes) == 4


@needs_tshark
def test_tshark_reads_names(annotated: Path) -> None:
    """With -N n, tshark names hosts from the NRB alone (no hosts file)."""
    out = _tshark(
        "-r",
        str(annotated),
        "-N",
        "n",
        "-T",
        "fields",
        "-e",
        "ip.src_host",
        "-e",
        "ip.dst_host",
        "-c",
        "3",
    )
    assert out.splitlines()[1].split("\t") == ["resolver.isp.test", "a.root-servers.net"]


@needs_tshark
def test_tshark_reads_comments_and_decrypts(annotated: Path) -> None:
    """Frame comments filter, capinfos shows the file comment, HTTP still decrypts."""
    out = _tshark("-r", str(annotated), "-Y", "frame.comment", "-T", "fields", "-e", "frame.number")
    assert out.split() == ["1", "38"]
    if shutil.which("capinfos"):
        info = subprocess.run(
            ["capinfos", str(annotated)], capture_output=True, text=True, check=False
        )
        assert "weblab browse 2026-11-22" in info.stdout
    http = _tshark(
        "-r", str(annotated), "-Y", "http.request", "-T", "fields", "-e", "http.request.uri"
    )
    assert http.split() == ["/", "/css/site.css", "/js/app.js", "/img/logo.svg"]
