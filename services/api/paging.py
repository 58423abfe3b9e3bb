"""Pagination of collections: ?page=&per_page=, and Link (RFC 8288) to the neighbours.

Page numbers start at 1, like GitHub's API; the total count travels in the body
and in X-Total-Count so a client can size a progress bar without paging through.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100


class BadPageParameter(ValueError):
    """``page``/``per_page`` is not an integer in range; ``str(e)`` says which."""

    def __init__(self, name: str, detail: str) -> None:
        super().__init__(f"{name}: {detail}")
        self.name = name
        self.detail = detail


@dataclass(frozen=True)
class Page:
    number: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.per_page


def _int(query: Mapping[str, str], name: str, default: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit():
        raise BadPageParameter(name, f"an integer from 1 to {high}")
    value = int(raw)
    if not 1 <= value <= high:
        raise BadPageParameter(name, f"an integer from 1 to {high}")
    return value


def parse_page(query: Mapping[str, str]) -> Page:
    """The page asked for, or ``BadPageParameter``; a page past the end is valid (empty)."""
    return Page(
        number=_int(query, "page", 1, 1_000_000),
        per_page=_int(query, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE),
    )


def last_page(total: int, per_page: int) -> int:
    return max(1, -(-total // per_page))


def link_header(path: str, page: Page, total: int) -> str:
    """first, prev, next and last links (RFC 8288 §3), relative to the request's origin."""

    def url(number: int) -> str:
        return f"{path}?{urlencode({'page': number, 'per_page': page.per_page})}"

    last = last_page(total, page.per_page)
    links = [("first", 1)]
    if page.number > 1:
        links.append(("prev", min(page.number - 1, last)))
    if page.number < last:
        links.append(("next", page.number + 1))
    links.append(("last", last))
    return ", ".join(f'<{url(n)}>; rel="{rel}"' for rel, n in links)
