"""services.router: its --route argument and which interface a route leaves by (no namespace)."""

from __future__ import annotations

import ipaddress

import pytest

from services.router.__main__ import RouterError, outgoing, parse_route

# The ISP's router in the documentation plan: the ISP's network and the transit link.
IFACES = {
    "eth0": ipaddress.IPv4Interface("203.0.113.1/24"),
    "eth1": ipaddress.IPv4Interface("198.18.1.1/24"),
}


@pytest.mark.parametrize(
    ("text", "route"),
    [
        ("default via 203.0.113.1", ("default", "203.0.113.1")),
        ("198.51.100.0/24 via 198.18.1.2", ("198.51.100.0/24", "198.18.1.2")),
        ("  203.0.113.0/24   via  198.18.1.1 ", ("203.0.113.0/24", "198.18.1.1")),
    ],
)
def test_parse_route_reads_dst_via_gateway(text: str, route: tuple[str, str]) -> None:
    """'DST via GW', DST a network or 'default', extra spaces allowed."""
    assert parse_route(text) == route


@pytest.mark.parametrize(
    "text",
    [
        "198.51.100.0/24 198.18.1.2",  # no via
        "198.51.100.0/24 dev eth0",
        "default via",
        "via 198.18.1.2",
        "default via 198.18.1.2 dev eth1",
        "",
    ],
)
def test_parse_route_refuses_another_shape(text: str) -> None:
    """Anything but three words 'DST via GW' is a RouterError that shows the expected form."""
    with pytest.raises(RouterError, match="expected 'DST via GATEWAY'"):
        parse_route(text)


@pytest.mark.parametrize(
    "text",
    ["198.51.100.7/24 via 198.18.1.2", "198.51.100.0/33 via 198.18.1.2", "default via 198.18.1",
     "default via router"],
)  # fmt: skip
def test_parse_route_refuses_bad_addresses(text: str) -> None:
    """A network with host bits, a bad prefix or a gateway that is no IPv4 address is refused
    (a ValueError, which main() reports like a RouterError)."""
    with pytest.raises(ValueError):  # noqa: PT011 - ipaddress's own messages vary
        parse_route(text)


def test_outgoing_picks_the_interface_on_the_gateways_network() -> None:
    """The route to the servers leaves by the transit side; the ISP's by the ISP's side."""
    assert outgoing("198.18.1.2", IFACES) == "eth1"
    assert outgoing("203.0.113.254", IFACES) == "eth0"


def test_outgoing_names_the_routers_networks_when_none_holds_the_gateway() -> None:
    """A gateway on none of the router's networks: the error says which networks it has."""
    with pytest.raises(RouterError) as e:
        outgoing("198.51.100.254", IFACES)
    assert str(e.value) == (
        "gateway 198.51.100.254 is on none of this router's networks "
        "(eth0 203.0.113.0/24, eth1 198.18.1.0/24)"
    )
