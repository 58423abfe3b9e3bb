"""weblab.yaml: a user's own services loaded, and every mistake told with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.errors import UsageError
from lab.ownservice import spec
from lab.ownservice.generate import zone_names

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "own-service" / "weblab.yaml"


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "Dockerfile").write_text("FROM weblab/lab:latest\n")
    path = tmp_path / "weblab.yaml"
    path.write_text(text)
    return path


def fails(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(UsageError) as e:
        spec.load(path, zone_names())
    return str(e.value)


def test_the_shipped_example_loads() -> None:
    """examples/own-service/weblab.yaml: one fronted service and one reached directly."""
    own = spec.load(EXAMPLE, zone_names())
    shop, direct = own.services
    assert (shop.name, shop.service, shop.port, shop.fronted) == (
        "shop.example.com",
        "shop",
        8443,
        True,
    )
    assert shop.origin_name == "shop-origin.example.com"
    assert shop.build == str(EXAMPLE.parent)
    assert shop.image is None
    assert (direct.name, direct.port, direct.fronted) == ("direct.example.com", 9443, False)
    assert dict(direct.environment) == {"WEBLAB_NOTE": "reached without the edge"}


def test_defaults_image_and_optional_keys(tmp_path: Path) -> None:
    """fronted defaults to true; image, service, healthcheck and command are taken as given."""
    path = write(
        tmp_path,
        "services:\n  shop.example.com:\n    image: myshop:1\n"
        "    port: 443\n    service: myshop\n    healthcheck: curl -fsk https://x/\n"
        "    command: [python, app.py]\n",
    )
    (s,) = spec.load(path).services
    assert s.fronted
    assert s.image == "myshop:1"
    assert s.service == "myshop"
    assert s.healthcheck == "curl -fsk https://x/"
    assert s.command == ("python", "app.py")


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (
            "services:\n  shop.example.com:\n    build: .\n    port: 8443\n    colour: red\n",
            5,
            "unknown key 'colour'",
        ),
        ("services:\n  shop.example.org:\n    build: .\n    port: 8443\n", 2, "outside"),
        (
            "services:\n  shop.edgecdn.net:\n    build: .\n    port: 8443\n",
            2,
            "inside the lab but not in example.com",
        ),
        ("services:\n  shop.example.com:\n    build: .\n    port: 70000\n", 4, "1..65535"),
        ("services:\n  shop.example.com:\n    build: .\n    port: http\n", 4, "1..65535"),
        (
            "services:\n  shop.example.com:\n    image: x\n    build: .\n    port: 1\n",
            4,
            "not both",
        ),
        ("services:\n  shop.example.com:\n    port: 1\n", 3, "needs `image:`"),
        ("services:\n  shop.example.com:\n    build: .\n", 3, "needs `port:`"),
        ("services:\n  shop.example.com:\n    build: nowhere\n    port: 1\n", 3, "no Dockerfile"),
        ("services:\n  www.example.com:\n    build: .\n    port: 1\n", 2, "already exists"),
        (
            "services:\n  resolver.example.com:\n    build: .\n    port: 1\n",
            2,
            "clashes with the lab's own resolver",
        ),
        (
            "services:\n  a.example.com:\n    build: .\n    port: 1\n"
            "  a.example.com.:\n    build: .\n    port: 2\n",
            5,
            "also line 2's",
        ),
        (
            "services:\n  shop.example.com:\n    build: .\n    port: 1\n    fronted: maybe\n",
            5,
            "fronted is true",
        ),
        (
            "services:\n  shop.example.com:\n    build: .\n    port: 1\n    command: run\n",
            5,
            "list of strings",
        ),
        ("servces: {}\n", 1, "unknown key 'servces'"),
        ("services:\n  shop.example.com: [1\n", 3, "not valid YAML"),
    ],
)
def test_mistakes_name_the_file_and_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    """Unknown keys, names outside example.com, bad ports, image and build: file:line: why."""
    message = fails(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'weblab.yaml'}:{line}: "), message
    assert words in message, message


def test_an_origin_name_may_not_clash(tmp_path: Path) -> None:
    """A fronted shop takes shop-origin.example.com too: a service of that name clashes."""
    message = fails(
        tmp_path,
        "services:\n  shop.example.com:\n    build: .\n    port: 1\n"
        "  shop-origin.example.com:\n    build: .\n    port: 2\n"
        "    service: other\n",
    )
    assert ":5: shop-origin.example.com clashes with shop.example.com (line 2)" in message


def test_the_pytest_plugin_reads_weblab_file(
    monkeypatch: pytest.MonkeyPatch, pytestconfig: pytest.Config
) -> None:
    """WEBLAB_FILE names the suite's weblab.yaml for the ``weblab`` fixture; unset, none."""
    from lab import pytest_plugin

    monkeypatch.delenv("WEBLAB_FILE", raising=False)
    assert pytest_plugin.own_file(pytestconfig) is None
    monkeypatch.setenv("WEBLAB_FILE", str(EXAMPLE))
    own = pytest_plugin.own_file(pytestconfig)
    assert own is not None
    assert [s.name for s in own.services] == ["shop.example.com", "direct.example.com"]
