"""Fingerprinted asset names: ``/css/site.css`` is also served as ``/css/site.3f2a9c1e.css``.

A name that changes with the content can be cached for a year and marked
immutable (RFC 8246): a new version is a new URL. The pages are rewritten to
use these names when the site is loaded; the plain names stay available with
a shorter lifetime for anyone who types them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import PurePosixPath

STATIC_ORIGIN = "https://static.example.com"


def fingerprinted(path: str, body: bytes) -> str:
    """``/css/site.css`` -> ``/css/site.<8 hex>.css``."""
    p = PurePosixPath(path)
    digest = hashlib.sha256(body).hexdigest()[:8]
    return str(p.with_name(f"{p.stem}.{digest}{p.suffix}"))


def rewrite(text: bytes, renames: Mapping[str, str]) -> bytes:
    """Point absolute static URLs and root-relative ``url(...)`` at the fingerprinted names."""
    for plain, fingered in renames.items():
        text = text.replace(
            f"{STATIC_ORIGIN}{plain}".encode(), f"{STATIC_ORIGIN}{fingered}".encode()
        )
        text = text.replace(f"url({plain})".encode(), f"url({fingered})".encode())
    return text
