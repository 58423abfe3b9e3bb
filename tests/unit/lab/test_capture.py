"""Key log slicing: a run embeds only the TLS secrets written during it."""

from pathlib import Path

from lab.capture import KeylogSlice


def test_slice_takes_only_new_lines(tmp_path: Path) -> None:
    """Lines a server wrote before the run started are left out."""
    (tmp_path / "edge.keylog").write_text("CLIENT_RANDOM old 1\n")
    s = KeylogSlice(tmp_path)
    with (tmp_path / "edge.keylog").open("a") as fh:
        fh.write("CLIENT_RANDOM new 2\n")
    (tmp_path / "origin.keylog").write_text("SERVER_TRAFFIC_SECRET_0 o 3\n")
    run = tmp_path / "run"
    run.mkdir()
    client = run / "client.keylog"
    client.write_text("# comment\nCLIENT_HANDSHAKE_TRAFFIC_SECRET c 4\n")
    out = tmp_path / "keys.log"
    assert s.collect([client], out) == 3
    text = out.read_text()
    assert "old" not in text and "new 2" in text and "o 3" in text and "c 4" in text
