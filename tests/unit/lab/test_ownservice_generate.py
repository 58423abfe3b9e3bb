"""A user's services made part of a lab: hosts, zone records, edge routes, the override."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from cryptography import x509
from dnslib import QTYPE

from lab import topology
from lab.ownservice import generate, spec
from lab.pki import verify_leaf
from services.cdn.routing import Router, parse_route
from services.dns.zone import ZoneSet, load_zone

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "own-service" / "weblab.yaml"
ZONES = ROOT / "services" / "zones"
PLAN = topology.plan("198.19.8.0/24")


def own() -> spec.OwnFile:
    return spec.load(EXAMPLE, generate.zone_names())


def test_hosts_take_200_up_in_the_lab_subnet() -> None:
    """The services join the plan at .200, .201 of the lab's own /24, named and marked own."""
    shop, direct = generate.hosts(own(), PLAN)
    assert (shop.service, shop.ipv4, shop.dns_name, shop.own) == (
        "shop",
        "198.19.8.200",
        "shop.example.com",
        True,
    )
    assert direct.ipv4 == "198.19.8.201"
    assert direct.serves == ("tcp/9443",)
    extended = PLAN.with_hosts((shop, direct))
    assert extended.by_address["198.19.8.200"].service == "shop"
    assert len({h.ipv4 for h in extended.hosts}) == len(extended.hosts)


def test_zone_records_load_into_the_real_zones(tmp_path: Path) -> None:
    """The records pass the zone checks: shop is a CNAME into edgecdn.net (as www is), the
    edge has it, shop-origin and direct are A records to the containers."""
    for zone, text in generate.zone_records(own(), PLAN).items():
        (tmp_path / f"{zone}.records").write_text(text)
    zones = ZoneSet(
        load_zone(ZONES / f, "198.19.8", tmp_path) for f in ("example.com.zone", "edgecdn.net.zone")
    )
    example, cdn = zones.zones["example.com."], zones.zones["edgecdn.net."]
    cname = example.get("shop.example.com.", QTYPE.CNAME)
    assert [str(rr.rdata) for rr in cname] == ["shop.example.com.edgecdn.net."]
    assert [str(rr.rdata) for rr in example.get("shop-origin.example.com.", QTYPE.A)] == [
        "198.19.8.200"
    ]
    assert [str(rr.rdata) for rr in example.get("direct.example.com.", QTYPE.A)] == ["198.19.8.201"]
    assert [str(rr.rdata) for rr in cdn.get("shop.example.com.edgecdn.net.", QTYPE.A)] == [
        "198.19.8.80"
    ]
    # The committed data is all still there, renumbered.
    assert [str(rr.rdata) for rr in example.get("origin.example.com.", QTYPE.A)] == ["198.19.8.90"]


def test_no_records_dir_leaves_the_zone_as_written(tmp_path: Path) -> None:
    """A zone with no <zone>.records in the directory loads exactly as before."""
    plain = load_zone(ZONES / "example.com.zone")
    extra = load_zone(ZONES / "example.com.zone", None, tmp_path)
    assert plain.rrsets.keys() == extra.rrsets.keys()


def test_routes_parse_as_the_edge_parses_them() -> None:
    """Only the fronted service gets a route, to its origin name and port, beside the lab's."""
    extra = generate.routes(own())
    assert extra == ["shop.example.com=https://shop-origin.example.com:8443"]
    lab_routes = ["www.example.com=https://origin.example.com", *extra]
    router = Router(parse_route(r) for r in lab_routes)
    route = router.match("shop.example.com")
    assert route is not None
    assert str(route.upstream) == "https://shop-origin.example.com:8443"


def test_override_adds_the_services_and_wires_the_lab(tmp_path: Path) -> None:
    """The override: each service at its address with its certificate, the CA, resolv.conf
    and LAB_RESOLVER; the zone servers get the records, the edge its routes and certificate."""
    doc = generate.override(own(), PLAN, tmp_path / "own", ROOT)
    shop, direct, ns, cdn, edge = (
        doc["services"][k] for k in ("shop", "direct", "ns-example", "ns-cdn", "edge")
    )
    assert shop["build"] == {"context": str(EXAMPLE.parent)}
    assert shop["networks"] == {"internet": {"ipv4_address": "198.19.8.200"}}
    assert shop["environment"]["LAB_RESOLVER"] == "198.19.9.53"  # on the ISP's network
    assert f"{tmp_path / 'own' / 'certs' / 'ca.crt'}:/certs/ca.crt:ro" in shop["volumes"]
    assert any(v.endswith(":/certs/user/shop.example.com.key:ro") for v in shop["volumes"])
    assert any(v.endswith(":/etc/resolv.conf") for v in shop["volumes"])
    assert not any(v.startswith(f"{ROOT / 'certs'}:") for v in shop["volumes"])  # no lab keys
    assert shop["depends_on"] == {"resolver": {"condition": "service_healthy"}}
    assert direct["environment"]["WEBLAB_PORT"] == "9443"
    assert ns["environment"] == {"LAB_ZONES_EXTRA": "/zones-extra"}
    assert cdn == ns
    assert edge["environment"] == {
        "EDGE_EXTRA_ROUTES": "shop.example.com=https://shop-origin.example.com:8443"
    }
    assert [v.split(":")[1] for v in edge["volumes"]] == ["/certs/edge.crt", "/certs/edge.key"]


def test_write_issues_certificates_and_is_remembered(tmp_path: Path, certs: Path) -> None:
    """write(): each service's chain verifies for its names from the lab root, the edge's
    names the fronted one too; remembered() gives the override and the hosts back."""
    shutil.copytree(certs, tmp_path / "certs")
    path = generate.write(own(), PLAN, tmp_path, "p", lambda _m: None)
    folder = generate.own_dir(tmp_path, "p")
    root = x509.load_pem_x509_certificate((certs / "ca.crt").read_bytes())

    def chain(p: Path) -> list[x509.Certificate]:
        return x509.load_pem_x509_certificates(p.read_bytes())

    for name in ("shop.example.com", "shop-origin.example.com"):
        verify_leaf(chain(folder / "certs" / "shop.example.com.crt"), root, name)
    verify_leaf(chain(folder / "certs" / "direct.example.com.crt"), root, "direct.example.com")
    for name in ("www.example.com", "shop.example.com"):
        verify_leaf(chain(folder / "edge" / "edge.crt"), root, name)
    assert (folder / "resolv.conf").read_text().startswith("nameserver 198.19.9.53\n")
    assert yaml.safe_load(path.read_text())["services"]["shop"]["hostname"] == "shop.example.com"
    override, hosts = generate.remembered(tmp_path, "p", topology.plan("198.19.12.0/24"))
    assert override == path
    assert [(h.service, h.ipv4) for h in hosts] == [
        ("shop", "198.19.12.200"),
        ("direct", "198.19.12.201"),
    ]
    generate.forget(tmp_path, "p")
    assert generate.remembered(tmp_path, "p", PLAN) == (None, ())


def test_a_run_records_the_services_for_the_capture_names() -> None:
    """timeline.json's own_hosts give plan_of the user's hosts back, so the capture names them."""
    plan = PLAN.with_hosts(generate.hosts(own(), PLAN))
    doc = {"subnet": PLAN.subnet, "own_hosts": topology.own_hosts(plan)}
    again = topology.plan_of(doc)
    assert again.by_address["198.19.8.200"].dns_name == "shop.example.com"
    assert again.by_address["198.19.8.201"].own
