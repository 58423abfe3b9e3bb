"""Packet comments mark where each scenario step begins, whatever its kind."""

from lab.capture.pcapng import step_comments


def test_steps_and_requests_are_marked() -> None:
    """A dig step and a request get comments on the first frame at or after their start."""
    times = [10.0, 10.5, 11.0, 12.0]
    steps = [
        {"index": 1, "kind": "dig", "target": "www.example.com", "started": 10.2},
        {"index": 2, "kind": "fetch", "target": "https://x/", "started": 11.0},
    ]
    fetches = [{"url": "https://x/", "started": 11.0}]
    marks = step_comments(times, fetches, steps)
    assert marks[2] == "step 1: dig www.example.com begins"
    assert marks[3] == "step 2: fetch https://x/ begins; request 1: GET https://x/ begins"
