"""docs/scenarios.md: generated from spec.py, complete, its examples load."""

import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from lab.scenario import reference, spec
from lab.scenario.schema import scenario_schema

ROOT = Path(__file__).resolve().parents[3]
PAGE = ROOT / "docs" / "scenarios.md"


def test_committed_page_is_current() -> None:
    """docs/scenarios.md is what lab/scenario/reference.py generates today."""
    assert PAGE.read_text() == reference.reference_markdown(), (
        "docs/scenarios.md is stale: run `.venv/bin/python -m lab.scenario.reference > "
        "docs/scenarios.md`"
    )


def test_page_names_every_kind_and_key() -> None:
    """Every step kind, fault kind, expectation key and top-level key of spec.py has its entry."""
    page = PAGE.read_text()
    headings = set(re.findall(r"^### `([a-z_]+)`$", page, re.M))
    assert set(spec.STEP_KINDS) | set(spec.FAULT_KINDS) <= headings
    for key in [*spec.EXPECT_KEYS, *spec.TOP_KEYS]:
        assert f"| `{key}` |" in page, key
    for kind, (_help, args, _main) in spec.STEP_KINDS.items():
        section = page.split(f"### `{kind}`\n", 1)[1].split("\n### ", 1)[0]
        for arg in args:
            assert f"| `{arg}`" in section, (kind, arg)


def test_a_new_kind_without_docs_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """A step kind added to spec.py without an example cannot generate the page."""
    monkeypatch.setitem(spec.STEP_KINDS, "ping", ("send pings", {"url": str}, "url"))
    with pytest.raises(KeyError, match="ping"):
        reference.reference_markdown()


def _examples() -> list[tuple[str, str]]:
    # Two steps, so `before_step: 2` and `step: 2` in the examples refer to real ones.
    head = "name: x\nsteps:\n  - browse: https://www.example.com/\n  - dig: www.example.com\n"
    out = [(f"step {k}", f"name: x\nsteps:\n{v}\n") for k, v in reference.STEP_EXAMPLES.items()]
    out += [(f"fault {k}", f"{head}faults:\n{v}\n") for k, v in reference.FAULT_EXAMPLES.items()]
    out += [(title, f"{head}expect:\n{ex}\n") for title, _what, ex in reference.EXPECT_EXAMPLES]
    return out


@pytest.mark.parametrize(("text"), [t for _n, t in _examples()], ids=[n for n, _t in _examples()])
def test_examples_load_and_validate(tmp_path: Path, text: str) -> None:
    """Every YAML example on the page loads with the real loader and passes the schema."""
    path = tmp_path / "s.yaml"
    path.write_text(text)
    assert spec.load(path).steps
    errors = jsonschema.Draft202012Validator(scenario_schema()).iter_errors(yaml.safe_load(text))
    assert [e.message for e in errors] == []


def test_readme_links_the_page() -> None:
    """The README's scenario section points to docs/scenarios.md, not to the loader's source."""
    readme = (ROOT / "README.md").read_text()
    assert "docs/scenarios.md" in readme
    assert "see `lab/scenario/spec.py` for the format" not in readme
