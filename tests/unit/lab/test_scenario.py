"""Scenario files: typed loading and file:line errors."""

from pathlib import Path

import pytest

from lab.errors import UsageError
from lab.scenario import spec as scenario


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(text)
    return p


def test_shipped_scenarios_load() -> None:
    """Every scenario in lab/scenarios/ loads and has at least one step."""
    found = scenario.available()
    assert "browse" in found
    for path in found.values():
        sc = scenario.load(path)
        assert sc.steps
        assert sc.name == path.stem


def test_browse_is_cold() -> None:
    """The main scenario starts from an empty resolver cache."""
    sc = scenario.find("browse")
    assert sc.cold_dns is True
    assert sc.steps[0].kind == "browse"
    assert sc.steps[0].target == "https://www.example.com/"


def test_unknown_key_reports_file_and_line(tmp_path: Path) -> None:
    """A typo in a key names the file, the line and the keys expected."""
    p = write(tmp_path, "name: x\nstesp:\n  - browse: https://a/\n")
    with pytest.raises(UsageError, match=r"s.yaml:2: unknown key 'stesp'"):
        scenario.load(p)


def test_unknown_step_kind(tmp_path: Path) -> None:
    """An unknown step kind is refused with its line and the known kinds."""
    p = write(tmp_path, "name: x\nsteps:\n  - browze: https://a/\n")
    with pytest.raises(UsageError, match=r"s.yaml:3: unknown step 'browze'; known steps: browse"):
        scenario.load(p)


def test_bad_yaml(tmp_path: Path) -> None:
    """Broken YAML is a usage error, not a traceback."""
    p = write(tmp_path, "name: [x\n")
    with pytest.raises(UsageError, match="not valid YAML"):
        scenario.load(p)


def test_bad_boolean(tmp_path: Path) -> None:
    """cold_dns accepts only true or false."""
    p = write(tmp_path, "name: x\ncold_dns: maybe\nsteps:\n  - browse: https://a/\n")
    with pytest.raises(UsageError, match="s.yaml:2: cold_dns must be bool"):
        scenario.load(p)


def test_unknown_scenario_lists_known() -> None:
    """An unknown scenario name lists the ones that exist."""
    with pytest.raises(UsageError, match=r"unknown scenario 'nope'; available: .*browse"):
        scenario.find("nope")


def test_full_scenario_loads(tmp_path: Path) -> None:
    """Faults, several step kinds and both kinds of expectation load into typed objects."""
    p = write(
        tmp_path,
        """
name: t
faults:
  - loss: {service: edge, percent: 5}
  - blackhole: {service: tld-a}
steps:
  - browse: https://www.example.com/
  - dig: {name: www.example.com, type: AAAA, tcp: true}
  - fetch: {url: "https://api.example.com/api/users", method: POST, json: {a: 1}, retries: 3}
expect:
  - step: 1
    status: 200
  - packets: "ip.src == $resolver && ip.dst in $roots"
    max: 2
""",
    )
    sc = scenario.load(p)
    assert [f.kind for f in sc.faults] == ["loss", "blackhole"]
    assert sc.faults[0].percent == 5.0
    assert sc.steps[1].args == {"name": "www.example.com", "type": "AAAA", "tcp": True}
    assert sc.steps[2].args["json"] == {"a": 1}
    assert sc.steps[2].args["retries"] == 3
    assert sc.expect[0].step == 1
    assert sc.expect[0].status == 200
    assert sc.expect[1].max == 2


def test_fault_needs_known_service(tmp_path: Path) -> None:
    """A fault on a host that does not exist names the hosts that do."""
    p = write(tmp_path, "name: t\nfaults:\n  - stop: {service: cdn}\nsteps:\n  - browse: x\n")
    with pytest.raises(UsageError, match=r"s.yaml:3: fault 'stop' needs `service:` one of root-a"):
        scenario.load(p)


def test_wrong_type_in_step(tmp_path: Path) -> None:
    """A step argument of the wrong type is reported with its line."""
    p = write(tmp_path, "name: t\nsteps:\n  - fetch: {url: x, retries: many}\n")
    with pytest.raises(UsageError, match=r"s.yaml:3: 'retries' must be int, not 'many'"):
        scenario.load(p)


def test_expectation_on_missing_step(tmp_path: Path) -> None:
    """An expectation about a step that does not exist is refused."""
    p = write(tmp_path, "name: t\nsteps:\n  - browse: x\nexpect:\n  - step: 3\n    status: 200\n")
    with pytest.raises(UsageError, match="step 3 does not exist"):
        scenario.load(p)


def test_packet_filter_names_expand() -> None:
    """$service names and host groups in a filter become addresses."""
    got = scenario.expand_filter("ip.src == $resolver && ip.dst in $roots && ip.dst != $root-a")
    assert got == (
        "ip.src == 198.18.2.53 && ip.dst in {198.51.100.4, 198.51.100.5} && ip.dst != 198.51.100.4"
    )
    with pytest.raises(UsageError, match="unknown"):
        scenario.expand_filter("ip.dst == $nowhere")


def test_profile_and_walk_and_rtts_load(tmp_path: Path) -> None:
    """profile (top and step), flush, walk with via and rtts on a step load into typed values."""
    p = write(
        tmp_path,
        "name: x\nprofile: lan\nsteps:\n  - profile: default\n  - flush: resolver\n"
        "  - browse: https://www.example.com/\nexpect:\n"
        "  - {walk: www.example.com, via: [roots, tlds, ns-example]}\n"
        "  - {step: 3, rtts: {connect: 1, tls: 1}}\n",
    )
    sc = scenario.load(p)
    assert sc.profile == "lan"
    assert [s.kind for s in sc.steps] == ["profile", "flush", "browse"]
    assert sc.expect[0].via == ("roots", "tlds", "ns-example")
    assert sc.expect[1].rtts == (("connect", 1.0), ("tls", 1.0))


def test_custom_profile_mapping_loads(tmp_path: Path) -> None:
    """A profile may be a mapping: a base and the links it changes."""
    p = write(
        tmp_path,
        "name: x\nprofile: {base: default, links: {client: {delay_ms: 30}}}\n"
        "steps:\n  - dig: www.example.com\n",
    )
    assert scenario.load(p).profile == {"base": "default", "links": {"client": {"delay_ms": 30}}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("profile: nosuch\nsteps:\n  - dig: a\n", r"s.yaml:2: unknown profile 'nosuch'"),
        (
            "profile: {links: {client: {loss_pct: 120}}}\nsteps:\n  - dig: a\n",
            r"s.yaml:2: profile links.client: loss_pct 120 is outside 0..100",
        ),
        ("steps:\n  - profile: fast\n", r"s.yaml:3: unknown profile 'fast'"),
        ("steps:\n  - flush: origin\n", r"s.yaml:3: flush takes one of dns, stub, router, "),
        (
            "steps:\n  - dig: a\nexpect:\n  - {walk: a.example}\n",
            r"a walk needs `via:` a list of",
        ),
        (
            "steps:\n  - dig: a\nexpect:\n  - {walk: a.example, via: [roots, mars]}\n",
            r"a walk needs `via:`",
        ),
        (
            "steps:\n  - dig: a\nexpect:\n  - {packets: dns, min: 1, via: [roots]}\n",
            r"`via:` belongs",
        ),
        (
            "steps:\n  - dig: a\nexpect:\n  - {packets: dns, min: 1, rtts: {tls: 1}}\n",
            r"`rtts:` checks a step",
        ),
        (
            "steps:\n  - dig: a\nexpect:\n  - {step: 1, rtts: {ttfb: 1}}\n",
            r"rtts maps connect, tls, dns to a number",
        ),
    ],
)
def test_bad_distance_input_names_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    """Every mistake in the distance keys is one UsageError with file:line and the fix."""
    with pytest.raises(UsageError, match=message):
        scenario.load(write(tmp_path, "name: x\n" + text))


def test_missing_scenario_file_is_named_as_such() -> None:
    """A path that does not exist is reported as a missing file, not an unknown scenario."""
    with pytest.raises(UsageError, match=r"/no/such/dir/mine\.yaml: no such file"):
        scenario.find("/no/such/dir/mine.yaml")


def test_drop_fault_loads_with_its_defaults(tmp_path: Path) -> None:
    """A drop names the sender and the receiver; port 443 and no size floor by default."""
    p = write(
        tmp_path,
        "name: t\nfaults:\n  - drop: {service: edge, to: client, proto: udp, packet: 12}\n"
        "steps:\n  - browse: x\n",
    )
    (f,) = scenario.load(p).faults
    assert (f.kind, f.service, f.to, f.proto) == ("drop", "edge", "client", "udp")
    assert dict(f.settings) == {"packet": 12.0, "port": 443.0, "min_bytes": 0.0, "after_bytes": 0.0}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("{service: edge, to: client, proto: sctp, packet: 3}", "drop needs `proto:` tcp or udp"),
        ("{service: edge, to: client, packet: 0}", r"drop needs `packet:` 1 or more"),
        ("{service: edge, to: edge, packet: 3}", "drop needs `to:` the receiving host"),
        ("{service: edge, to: client, packet: 3, port: 70000}", "drop needs `port:` 1..65535"),
    ],
)
def test_drop_fault_errors(tmp_path: Path, args: str, message: str) -> None:
    p = write(tmp_path, f"name: t\nfaults:\n  - drop: {args}\nsteps:\n  - browse: x\n")
    with pytest.raises(UsageError, match=rf"s.yaml:3: {message}"):
        scenario.load(p)


def test_stalled_expectation(tmp_path: Path) -> None:
    """`stalled:` and `unblocked:` take min/max counts and belong to a step."""
    head = "name: t\nsteps:\n  - browse: x\nexpect:\n"
    sc = scenario.load(
        write(tmp_path, head + "  - {step: 1, stalled: {min: 8}, unblocked: {max: 0}}\n")
    )
    assert sc.expect[0].stalled == (("min", 8),)
    assert sc.expect[0].unblocked == (("max", 0),)
    with pytest.raises(UsageError, match="s.yaml:5: `stalled:` checks a step: give `step:` too"):
        scenario.load(write(tmp_path, head + "  - {packets: x, min: 1, stalled: {min: 1}}\n"))
    with pytest.raises(UsageError, match=r"s.yaml:5: `unblocked:` is \{min: N\}"):
        scenario.load(write(tmp_path, head + "  - {step: 1, unblocked: {least: 1}}\n"))


def test_run_ok_judges_expected_failures_by_their_expectation(tmp_path: Path) -> None:
    """A 401 a step expects does not fail the run (the report used to say FAILED for the
    api scenario with every expectation held); an unexpected failure or a failed check does."""
    from lab.scenario.expect import Checked, StepOutcome
    from lab.scenario.runner import run_ok

    p = tmp_path / "s.yaml"
    p.write_text(
        "name: s\nsteps:\n  - dig: a\n  - dig: b\nexpect:\n  - {step: 2, rcode: NXDOMAIN}\n"
    )
    sc = scenario.load(p)
    good, bad = StepOutcome(1, "dig", "a", 0.0, ok=True), StepOutcome(2, "dig", "b", 0.0, ok=False)
    held = [Checked(6, "step 2 rcode NXDOMAIN", True, "NXDOMAIN")]
    assert run_ok(sc, [good, bad], held)
    assert not run_ok(sc, [StepOutcome(1, "dig", "a", 0.0, ok=False), bad], held)
    assert not run_ok(sc, [good, bad], [Checked(6, "step 2 rcode NXDOMAIN", False, "NOERROR")])
