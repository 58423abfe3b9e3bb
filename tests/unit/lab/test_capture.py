"""Key log collection: every secret the run's TLS sessions may need, once."""

from pathlib import Path

from lab.capture.record import collect_keylogs


def test_collects_servers_and_clients_without_duplicates(tmp_path: Path) -> None:
    """Server logs are taken whole (pooled connections predate the run), comments dropped."""
    keylog = tmp_path / "keylog"
    keylog.mkdir()
    (keylog / "edge.keylog").write_text("CLIENT_RANDOM old 1\nCLIENT_RANDOM new 2\n")
    (keylog / "origin.keylog").write_text("SERVER_TRAFFIC_SECRET_0 o 3\n")
    run = tmp_path / "run"
    run.mkdir()
    client = run / "client.keylog"
    client.write_text("# comment\nCLIENT_HANDSHAKE_TRAFFIC_SECRET c 4\nCLIENT_RANDOM new 2\n")
    out = tmp_path / "keys.log"
    assert collect_keylogs(keylog, [client, run / "absent.keylog"], out) == 4
    assert out.read_text().splitlines() == [
        "CLIENT_RANDOM old 1",
        "CLIENT_RANDOM new 2",
        "SERVER_TRAFFIC_SECRET_0 o 3",
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET c 4",
    ]


def test_keeps_only_sessions_seen_in_the_capture(tmp_path: Path) -> None:
    """With the capture's client randoms, secrets of other sessions are left out."""
    keylog = tmp_path / "keylog"
    keylog.mkdir()
    (keylog / "edge.keylog").write_text(
        "CLIENT_TRAFFIC_SECRET_0 aa11 s1\nSERVER_TRAFFIC_SECRET_0 AA11 s2\n"
        "CLIENT_TRAFFIC_SECRET_0 bb22 s3\n"
    )
    out = tmp_path / "keys.log"
    assert collect_keylogs(keylog, [], out, randoms={"aa11"}) == 2
    assert "bb22" not in out.read_text()
