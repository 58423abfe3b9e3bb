"""services.dnscore.renumber: documentation addresses moved into a lab's own /24."""

from __future__ import annotations

import pytest

from services.dnscore.renumber import check_prefix, from_env, renumber


def test_whole_addresses_move_and_nothing_else() -> None:
    """Addresses and networks move; a longer number or a name that contains the prefix does not."""
    text = (
        "ns1  IN A 198.51.100.21 ; 198.51.100.0/24\n"
        'x    IN TXT "1198.51.100.4 198.51.100.example 4.198.51.100.4.in-addr"\n'
        "(198.51.100.5)\n"
    )
    assert renumber(text, "198.19.7") == (
        "ns1  IN A 198.19.7.21 ; 198.19.7.0/24\n"
        'x    IN TXT "1198.51.100.4 198.51.100.example 4.198.51.100.4.in-addr"\n'
        "(198.19.7.5)\n"
    )


def test_no_prefix_or_the_documentation_one_keeps_the_text() -> None:
    """Without LAB_NET, or with the documentation prefix, the file is served as written."""
    text = "a IN A 198.51.100.4\n"
    assert renumber(text, None) == text
    assert renumber(text, "198.51.100") == text


@pytest.mark.parametrize("bad", ["198.19", "198.19.7.0", "198.19.256", "198.19.07x", ""])
def test_a_prefix_is_three_octets(bad: str) -> None:
    """Anything but three octets is refused, naming LAB_NET."""
    with pytest.raises(ValueError, match="LAB_NET"):
        check_prefix(bad)


def test_from_env() -> None:
    """LAB_NET unset or blank means the documentation plan; set, it is checked."""
    assert from_env({}) is None
    assert from_env({"LAB_NET": " "}) is None
    assert from_env({"LAB_NET": "198.19.7"}) == "198.19.7"
    with pytest.raises(ValueError, match="three octets"):
        from_env({"LAB_NET": "198.19.7.0/24"})
