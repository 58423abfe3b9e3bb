"""Host names as they arrive in requests, made comparable."""

from __future__ import annotations


def normalize_host(value: str) -> str:
    """``WWW.Example.COM.:443`` -> ``www.example.com`` (RFC 9110 §4.2.3: case-insensitive)."""
    host = value.strip().lower()
    if host.startswith("["):  # IPv6 literal
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0].rstrip(".") if ":" in host else host.rstrip(".")
