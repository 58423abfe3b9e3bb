"""HTTP freshness arithmetic for a shared cache (RFC 9111 §4.2), without any I/O.

Parsing of Cache-Control and HTTP-dates, the freshness lifetime (explicit or
heuristic) and the current age. What may be stored or served lives in
policy.py, which builds on these numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime
from functools import lru_cache

from multidict import CIMultiDict

# §1.2.2: delta-seconds too large to represent are taken as 2**31.
MAX_DELTA = 2**31
# §4.2.2: a heuristic lifetime of 10% of the time since Last-Modified is the
# common choice; capped at a day so that an old file is still rechecked daily.
HEURISTIC_FRACTION = 0.1
HEURISTIC_CAP = 86_400.0
# §4.2.2: status codes defined as heuristically cacheable (RFC 9110 §15.1).
HEURISTIC_STATUSES = frozenset({200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501})

_DIRECTIVE = re.compile(
    r"""\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^,\s]*))?\s*(?:,|$)"""
)


def parse_cache_control(value: str | None) -> dict[str, str | None]:
    """Directives (names lower-cased, §5.2) to their argument, unquoted; None if bare."""
    if not value:
        return {}
    # A stored response's field is parsed on every use of it: parse each value once.
    return dict(_parse_cache_control(value))


@lru_cache(maxsize=1024)
def _parse_cache_control(value: str) -> dict[str, str | None]:
    directives: dict[str, str | None] = {}
    for match in _DIRECTIVE.finditer(value):
        name, arg = match.group(1).lower(), match.group(2)
        if arg is not None and arg.startswith('"'):
            arg = re.sub(r"\\(.)", r"\1", arg[1:-1])
        directives.setdefault(name, arg)  # first occurrence wins on duplicates
    return directives


def delta_seconds(arg: str | None) -> int | None:
    """A delta-seconds argument (§1.2.2); None when absent or not a number."""
    if arg is None:
        return None
    arg = arg.strip()
    if not arg.isdigit() or not arg.isascii():
        return None
    return min(int(arg), MAX_DELTA)


def http_date(value: str | None) -> float | None:
    """An HTTP-date as a POSIX time; None when absent or invalid (RFC 9110 §5.6.7)."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def combined(headers: Iterable[tuple[str, str]]) -> CIMultiDict[str]:
    """One value per field name, repeated fields joined by commas (RFC 9110 §5.3)."""
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers:
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


def explicit_lifetime(response: Mapping[str, str], *, response_time: float) -> float | None:
    """Seconds the response stays fresh in a shared cache (§4.2.1); None if not stated."""
    cc = parse_cache_control(response.get("Cache-Control"))
    for name in ("s-maxage", "max-age"):  # s-maxage overrides max-age in a shared cache
        if name in cc:
            seconds = delta_seconds(cc[name])
            return 0.0 if seconds is None else float(seconds)  # invalid: treat as stale
    if "Expires" in response:
        expires = http_date(response["Expires"])
        if expires is None:
            return 0.0  # §5.3: an invalid Expires means "already expired"
        date = http_date(response.get("Date"))
        return max(0.0, expires - (date if date is not None else response_time))
    return None


def heuristic_lifetime(
    status: int, response: Mapping[str, str], *, response_time: float
) -> float | None:
    """§4.2.2: 10% of the time since Last-Modified, for heuristically cacheable statuses
    or a response marked public; None when no heuristic applies."""
    cc = parse_cache_control(response.get("Cache-Control"))
    if status not in HEURISTIC_STATUSES and "public" not in cc:
        return None
    last_modified = http_date(response.get("Last-Modified"))
    if last_modified is None:
        return None
    date = http_date(response.get("Date"))
    since = (date if date is not None else response_time) - last_modified
    return min(HEURISTIC_CAP, max(0.0, since * HEURISTIC_FRACTION))


def freshness_lifetime(
    response: Mapping[str, str], *, response_time: float, status: int | None = None
) -> float | None:
    """Explicit lifetime if any, else the heuristic one when ``status`` allows it."""
    explicit = explicit_lifetime(response, response_time=response_time)
    if explicit is not None or status is None:
        return explicit
    return heuristic_lifetime(status, response, response_time=response_time)


def age_value(value: str | None) -> float:
    """An Age field (§5.1) as seconds.

    Age is a single delta-seconds. Anything else (a list, a sign, a fraction,
    a parameter) says nothing reliable about how old the response is, so the
    edge takes it as the largest age (§1.2.2's 2**31): the response is stale
    and gets revalidated rather than served on a guess (as http-cache-tests'
    age-parse cases expect).
    """
    if value is None:
        return 0.0
    seconds = delta_seconds(value)
    return float(MAX_DELTA if seconds is None else seconds)


def initial_age(response: Mapping[str, str], *, request_time: float, response_time: float) -> float:
    """The age when the response arrived (§4.2.3 corrected_initial_age): what upstream
    caches and transit time added; fixed for a stored response."""
    date_value = http_date(response.get("Date"))
    apparent_age = max(0.0, response_time - date_value) if date_value is not None else 0.0
    response_delay = max(0.0, response_time - request_time)
    corrected_age_value = age_value(response.get("Age")) + response_delay
    return max(apparent_age, corrected_age_value)


def current_age(
    response: Mapping[str, str], *, request_time: float, response_time: float, now: float
) -> float:
    """The response's age now (§4.2.3), counting upstream caches and transit time."""
    resident_time = max(0.0, now - response_time)
    return (
        initial_age(response, request_time=request_time, response_time=response_time)
        + resident_time
    )
