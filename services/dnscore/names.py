"""Domain-name helpers on normalised text names (lower case, trailing dot).

DNS names compare case-insensitively (RFC 1035 §2.3.3, RFC 4343), so every
name is normalised once at the edge and plain string operations work inside.
Names are kept in dnslib's presentation form, where a dot inside a label is
escaped, so splitting on "." is safe.
"""

from __future__ import annotations

from collections.abc import Iterator

from dnslib import DNSLabel

ROOT = "."


def norm(name: object) -> str:
    """Normalise a name (str or DNSLabel) to lower case with a trailing dot.

    A DNSLabel from the wire is rendered by dnslib with bytes outside
    letters-digits-hyphen escaped as ``\\ddd`` (RFC 1035 §5.1), so hostile
    labels (dots, NULs, high bytes inside a label) cannot alias other names.
    """
    label = name if isinstance(name, DNSLabel) else DNSLabel(str(name))
    text = str(label).lower()
    return text if text.endswith(".") else text + "."


def parent(name: str) -> str | None:
    """The name one label up, or None for the root."""
    if name == ROOT:
        return None
    rest = name.split(".", 1)[1]
    return rest or ROOT


def is_subdomain(name: str, zone: str) -> bool:
    """True if ``name`` is ``zone`` or below it (both normalised)."""
    return zone == ROOT or name == zone or name.endswith("." + zone)


def ancestors(name: str) -> Iterator[str]:
    """The name itself, then each parent up to and including the root."""
    current: str | None = name
    while current is not None:
        yield current
        current = parent(current)


def labels_between(name: str, zone: str) -> list[str]:
    """Names from just below ``zone`` down to ``name`` (inclusive), top first."""
    below = [n for n in ancestors(name) if n != zone and is_subdomain(n, zone)]
    return list(reversed(below))
