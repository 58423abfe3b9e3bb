"""retry_client against the lab: a healthy CDN, a lossy edge, both origins down."""

from __future__ import annotations

import time

PAGE = "https://www.example.com/"


def test_get_through_the_cdn(run_client, weblab):
    """A plain GET of the lab's home page is a 200 on the first try."""
    assert weblab.dig("www.example.com") == [weblab.address("edge")]
    r = run_client(PAGE)
    assert r["status"] == 200
    assert r["retries"] == 0


def test_survives_packet_loss_on_the_edge(run_client, weblab):
    """With 5% of the edge's packets dropped, every GET still ends in a 200."""
    with weblab.fault("loss", "edge", percent=5):
        results = [run_client(PAGE, "--timeout", "3") for _ in range(10)]
    assert [r["status"] for r in results] == [200] * 10
    retries = sum(r["retries"] for r in results)
    print(f"10 GETs under 5% loss: {retries} retries")


def test_origins_down_the_edge_serves_stale(run_client, weblab):
    """With both origins stopped, the page cached before is still a 200 (stale-if-error)."""
    assert run_client(PAGE)["status"] == 200  # in the edge's cache now (max-age=5)
    with weblab.fault("stop", "origin"), weblab.fault("stop", "origin-2"):
        time.sleep(6)  # past max-age: only stale-if-error can answer now
        r = run_client(PAGE)
    assert r["status"] == 200
    assert r["x_cache"] == "STALE"


def test_retry_policy_rides_out_api_errors(run_client, weblab):
    """The API answering half its requests 503 (its own fault switch): the client's
    retry policy fires, and every call still ends in a 200. Each call has its own query
    string, so the edge's cache (GET /api is public for 30 s) answers none of them. With 16
    retries a call fails only if 17 coin flips in a row come up 503 (12 calls: 1 in 11,000;
    with 8 retries it was 1 in 43, and a CI run met it)."""
    with weblab.fault("api", "api", error_rate=0.5, status=503):
        results = [
            run_client(f"https://api.example.com/api?call={i}", "--retries", "16") for i in range(12)
        ]
    assert [r["status"] for r in results] == [200] * 12
    retries = sum(r["retries"] for r in results)
    assert retries >= 1, "half the answers were 503: some call must have been retried"
    assert all(a.startswith("503") for r in results for a in r["attempts"][:-1])
    print(f"12 GETs with half the API's answers 503: {retries} retries")
