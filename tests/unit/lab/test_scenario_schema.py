"""The scenario JSON Schema: built from spec.py, committed fresh, agreeing with the loader."""

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from lab.errors import UsageError
from lab.scenario import spec
from lab.scenario.schema import EXPECT_HELP, TOP_HELP, scenario_schema

COMMITTED = Path(__file__).resolve().parents[3] / "docs" / "scenario.schema.json"
HEAD = "name: x\nsteps:\n  - browse: https://www.example.com/\n"


def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(scenario_schema())


def test_schema_is_valid_draft_2020_12() -> None:
    """The generated document is itself a valid draft 2020-12 schema."""
    schema = scenario_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_committed_schema_is_current() -> None:
    """docs/scenario.schema.json is what `lab scenario schema` prints today."""
    expected = json.dumps(scenario_schema(), indent=2) + "\n"
    assert COMMITTED.read_text() == expected, (
        "docs/scenario.schema.json is stale: run `.venv/bin/lab scenario schema > "
        "docs/scenario.schema.json`"
    )


def test_schema_follows_spec_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """A step or fault kind added to spec.py appears in the schema with its help string."""
    monkeypatch.setitem(spec.STEP_KINDS, "ping", ("send pings", {"host": str}, "host"))
    monkeypatch.setitem(spec.FAULT_KINDS, "reorder", ("reorder packets", {"service": str}))
    defs = scenario_schema()["$defs"]
    assert defs["step-ping"]["description"] == "send pings"
    assert defs["fault-reorder"]["description"] == "reorder packets"
    for kind, (help_, args, main_arg) in spec.STEP_KINDS.items():
        body = defs[f"step-{kind}"]["properties"][kind]["oneOf"][1]
        assert defs[f"step-{kind}"]["description"] == help_
        assert set(body["properties"]) == set(args)
        assert body["required"] == [main_arg]


def test_every_key_has_help() -> None:
    """Each expectation and top-level key of spec.py has a line of help, and no other key does."""
    assert set(EXPECT_HELP) == set(spec.EXPECT_KEYS)
    assert set(TOP_HELP) == spec.TOP_KEYS
    assert set(scenario_schema()["properties"]) == spec.TOP_KEYS


@pytest.mark.parametrize("path", sorted(spec.available().values()), ids=lambda p: p.stem)
def test_shipped_scenarios_are_valid(path: Path) -> None:
    """Every scenario in lab/scenarios/ passes the schema."""
    errors = [e.message for e in validator().iter_errors(yaml.safe_load(path.read_text()))]
    assert errors == []


BROKEN = {
    "unknown top key": "name: x\nstesp: []\nsteps:\n  - browse: https://a/\n",
    "no steps": "name: x\n",
    "empty steps": "name: x\nsteps: []\n",
    "no name": "steps:\n  - browse: https://a/\n",
    "unknown step": "name: x\nsteps:\n  - browze: https://a/\n",
    "two kinds in a step": "name: x\nsteps:\n  - {browse: https://a/, dig: a}\n",
    "unknown step argument": "name: x\nsteps:\n  - browse: {url: https://a/, vists: 2}\n",
    "step without its main argument": "name: x\nsteps:\n  - dig: {type: A}\n",
    "browse http 4": 'name: x\nsteps:\n  - browse: {url: https://a/, http: "4"}\n',
    "chromium http 2": 'name: x\nsteps:\n  - chromium: {url: https://a/, http: "2"}\n',
    "wait too long": "name: x\nsteps:\n  - wait: 121\n",
    "wait zero": "name: x\nsteps:\n  - wait: {seconds: 0}\n",
    "flush origin": "name: x\nsteps:\n  - flush: origin\n",
    "unknown profile step": "name: x\nsteps:\n  - profile: moon\n",
    "visits not a number": "name: x\nsteps:\n  - browse: {url: https://a/, visits: many}\n",
    "cold_dns maybe": HEAD + "cold_dns: maybe\n",
    "unknown profile": HEAD + "profile: moon\n",
    "profile link to no host": HEAD + "profile: {links: {moon: {delay_ms: 5}}}\n",
    "profile link unknown field": HEAD + "profile: {links: {edge: {delay: 5}}}\n",
    "unknown fault": HEAD + "faults:\n  - flood: {service: edge}\n",
    "fault on no host": HEAD + "faults:\n  - stop: {service: moon}\n",
    "fault without service": HEAD + "faults:\n  - stop: {before_step: 1}\n",
    "loss of 0": HEAD + "faults:\n  - loss: {service: edge, percent: 0}\n",
    "loss over 100": HEAD + "faults:\n  - loss: {service: edge, percent: 101}\n",
    "delay of 0": HEAD + "faults:\n  - delay: {service: edge, ms: 0}\n",
    "api fault on the edge": HEAD + "faults:\n  - api: {service: edge, error_rate: 0.5}\n",
    "unknown fault argument": HEAD + "faults:\n  - stop: {service: edge, percent: 5}\n",
    "before step 0": HEAD + "faults:\n  - stop: {service: edge, before_step: 0}\n",
    "expectation on nothing": HEAD + "expect:\n  - {status: 200}\n",
    "expectation on two things": HEAD + "expect:\n  - {step: 1, packets: dns, min: 1}\n",
    "packets without a count": HEAD + "expect:\n  - {packets: dns}\n",
    "walk without via": HEAD + "expect:\n  - {walk: www.example.com}\n",
    "via without walk": HEAD + "expect:\n  - {step: 1, via: [roots]}\n",
    "via to no server": HEAD + "expect:\n  - {walk: a, via: [roots, moon]}\n",
    "rtts without step": HEAD + "expect:\n  - {packets: dns, min: 1, rtts: {tls: 1}}\n",
    "rtts on no phase": HEAD + "expect:\n  - {step: 1, rtts: {http: 1}}\n",
    "step 0": HEAD + "expect:\n  - {step: 0, status: 200}\n",
    "unknown expectation key": HEAD + "expect:\n  - {step: 1, stauts: 200}\n",
}


@pytest.mark.parametrize(("text"), BROKEN.values(), ids=BROKEN.keys())
def test_broken_scenarios_fail_schema_and_loader(tmp_path: Path, text: str) -> None:
    """A broken file fails the schema and the loader alike."""
    assert list(validator().iter_errors(yaml.safe_load(text))), "the schema let it through"
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(UsageError, match=r"s\.yaml:\d+: "):
        spec.load(path)


def test_short_forms_and_yaml_numbers_pass(tmp_path: Path) -> None:
    """The schema takes what the loader takes: `wait: 6`, unquoted `http: 1.1`, a profile map."""
    text = (
        "name: x\nprofile: {base: lan, links: {client: {delay_ms: 40, jitter_ms: 8}}}\n"
        "steps:\n  - wait: 6\n  - browse: {url: https://a/, http: 1.1}\n"
        "  - dig: {name: a, type: AAAA, tcp: true}\n"
    )
    (tmp_path / "s.yaml").write_text(text)
    assert len(spec.load(tmp_path / "s.yaml").steps) == 3
    assert [e.message for e in validator().iter_errors(yaml.safe_load(text))] == []
