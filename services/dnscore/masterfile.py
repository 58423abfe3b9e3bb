"""RFC 1035 §5 master-file parser that reports errors as ``file:line: reason``.

dnslib's own ``ZoneParser`` reads the format but loses line numbers and
accepts nonsense silently, so this module tokenises the file itself (comments,
quoted strings, parentheses spanning lines, ``$ORIGIN``, ``$TTL``, blank
owners) and hands each record's RDATA tokens to dnslib's ``fromZone``.

Conventions (documented in services/dns/README.md):
- relative names are completed from ``$ORIGIN`` (the root until one is seen);
- a record with no TTL takes ``$TTL`` (RFC 2308 §4); with neither, the file is
  refused rather than guessed;
- only class IN; ``$INCLUDE`` is not supported.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from dnslib import CLASS, QTYPE, RDMAP, RR, DNSBuffer, DNSLabel

from services.dnscore.names import ROOT, norm
from services.dnscore.renumber import renumber

_TTL_RE = re.compile(r"^\d+[smhdwSMHDW]?$|^(\d+[smhdwSMHDW])+$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_TTL = 2**31 - 1  # RFC 2181 §8


class ZoneFileError(ValueError):
    """A master file that cannot be loaded; ``str()`` is ``file:line: reason``."""

    def __init__(self, path: str, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class Entry:
    """One resource record and the line of the file it starts on."""

    rr: RR
    line: int


@dataclass(frozen=True)
class _Token:
    text: str
    quoted: bool


def parse_ttl(text: str) -> int:
    """A TTL in seconds, plain or with BIND-style unit suffixes (``1h30m``)."""
    if text.isdigit():
        return int(text)
    total = 0
    for number, unit in re.findall(r"(\d+)([smhdwSMHDW])", text):
        total += int(number) * _UNITS[unit.lower()]
    return total


def _tokenise_line(text: str) -> tuple[list[_Token], int]:
    """Split one physical line; returns tokens and the parenthesis balance."""
    tokens: list[_Token] = []
    depth = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == ";":
            break
        if ch in " \t\r":
            i += 1
        elif ch == "(":
            depth += 1
            i += 1
        elif ch == ")":
            depth -= 1
            i += 1
        elif ch == '"':
            out: list[str] = []
            i += 1
            while i < len(text) and text[i] != '"':
                if text[i] == "\\" and i + 1 < len(text):
                    i += 1
                out.append(text[i])
                i += 1
            if i >= len(text):
                raise ValueError("unterminated quoted string")
            tokens.append(_Token("".join(out), True))
            i += 1
        else:
            start = i
            while i < len(text) and text[i] not in ' \t\r;()"':
                i += 1
            tokens.append(_Token(text[start:i], False))
    return tokens, depth


def _logical_lines(text: str) -> list[tuple[int, bool, list[_Token]]]:
    """Join parenthesised continuations: (first line number, owner blank?, tokens)."""
    result: list[tuple[int, bool, list[_Token]]] = []
    pending: list[_Token] = []
    depth = 0
    start = 0
    blank_owner = False
    for number, raw in enumerate(text.splitlines(), start=1):
        try:
            tokens, change = _tokenise_line(raw)
        except ValueError as e:
            raise ZoneFileError("", number, str(e)) from e
        if depth == 0:
            if not tokens:
                if change:
                    raise ZoneFileError("", number, "unbalanced parenthesis")
                continue
            start, blank_owner, pending = number, raw[:1] in (" ", "\t"), []
        pending.extend(tokens)
        depth += change
        if depth < 0:
            raise ZoneFileError("", number, "')' without '('")
        if depth == 0:
            result.append((start, blank_owner, pending))
    if depth:
        raise ZoneFileError("", start, "'(' never closed")
    return result


def _absolute(name: str, origin: str) -> str:
    if name == "@":
        return origin
    if name.endswith("."):
        return norm(name)
    return norm(name + "." + origin) if origin != ROOT else norm(name + ".")


def _make_rdata(rtype: str, tokens: list[str], origin: str) -> object:
    """Build dnslib RDATA from zone tokens, checking what dnslib does not."""
    if rtype == "A":
        try:
            ipaddress.IPv4Address(tokens[0] if len(tokens) == 1 else "")
        except ValueError as e:
            raise ValueError(f"A needs one IPv4 address, got {' '.join(tokens)!r}") from e
    elif rtype == "AAAA":
        try:
            ipaddress.IPv6Address(tokens[0] if len(tokens) == 1 else "")
        except ValueError as e:
            raise ValueError(f"AAAA needs one IPv6 address, got {' '.join(tokens)!r}") from e
    elif rtype in ("NS", "CNAME", "PTR", "DNAME") and len(tokens) != 1:
        raise ValueError(f"{rtype} needs exactly one name")
    elif rtype == "MX" and (len(tokens) != 2 or not tokens[0].isdigit()):
        raise ValueError("MX needs a preference and a name")
    elif rtype == "SOA" and len(tokens) != 7:
        raise ValueError("SOA needs mname rname serial refresh retry expire minimum")
    elif not tokens:
        raise ValueError(f"{rtype} has no data")
    if rtype != "TXT":
        # RFC 1035 §5.1: "@" denotes the current origin, in RDATA too.
        tokens = [origin if t == "@" else t for t in tokens]
    return RDMAP[rtype].fromZone(tokens, DNSLabel(origin))


def parse_master(text: str, path: str = "<zone>", origin: str = ROOT) -> list[Entry]:
    """Parse master-file text into records; raise ZoneFileError on the first problem."""
    try:
        lines = _logical_lines(text)
    except ZoneFileError as e:
        raise ZoneFileError(path, e.line, e.reason) from e
    entries: list[Entry] = []
    default_ttl: int | None = None
    owner: str | None = None
    for line, blank_owner, tokens in lines:
        words = [t.text for t in tokens]
        try:
            head = words[0].upper() if not tokens[0].quoted else ""
            if head == "$ORIGIN":
                if len(words) != 2:
                    raise ValueError("$ORIGIN takes one name")
                origin = _absolute(words[1], origin)
                continue
            if head == "$TTL":
                if len(words) != 2 or not _TTL_RE.match(words[1]):
                    raise ValueError("$TTL takes one TTL value")
                default_ttl = parse_ttl(words[1])
                continue
            if head.startswith("$"):
                raise ValueError(f"unsupported directive {words[0]}")
            if not blank_owner:
                owner = _absolute(words.pop(0), origin)
            if owner is None:
                raise ValueError("record with a blank owner before any owner was given")
            ttl, rclass = default_ttl, "IN"
            # RFC 1035 §5.1: TTL and class may come in either order, both optional.
            for _ in range(2):
                if words and _TTL_RE.match(words[0]):
                    ttl = parse_ttl(words.pop(0))
                elif words and words[0].upper() in ("IN", "CH", "HS", "CS"):
                    rclass = words.pop(0).upper()
            if rclass != "IN":
                raise ValueError(f"class {rclass} is not supported (only IN)")
            if not words:
                raise ValueError("record has no type")
            rtype = words.pop(0).upper()
            if rtype not in QTYPE.reverse or rtype not in RDMAP:
                raise ValueError(f"unknown or unsupported record type {rtype!r}")
            if ttl is None:
                raise ValueError("no TTL on the record and no $TTL before it")
            if ttl > MAX_TTL:
                raise ValueError(f"TTL {ttl} exceeds 2^31-1 (RFC 2181 §8)")
            rr = RR(
                rname=DNSLabel(owner),
                rtype=getattr(QTYPE, rtype),
                rclass=CLASS.IN,
                ttl=ttl,
                rdata=_make_rdata(rtype, words, origin),
            )
            # Packing catches what the constructors let through (label > 63
            # octets, name > 255 octets, TXT string > 255 octets).
            rr.pack(DNSBuffer())
        except ZoneFileError:
            raise
        except Exception as e:  # dnslib raises many types; all mean "bad record"
            raise ZoneFileError(path, line, str(e) or type(e).__name__) from e
        entries.append(Entry(rr, line))
    return entries


def load_master(path: str | Path, net: str | None = None, origin: str = ROOT) -> list[Entry]:
    """Read and parse a master file; unreadable files are ZoneFileError too.

    NET ("198.19.7") moves the documentation addresses into the lab's own /24
    (services/dnscore/renumber.py); None keeps the file as written."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ZoneFileError(str(path), 0, f"cannot read: {e}") from e
    try:
        text = renumber(text, net)
    except ValueError as e:
        raise ZoneFileError(str(path), 0, str(e)) from e
    return parse_master(text, str(path), origin)
