"""Fixtures shared by the HTTP/3 tests: the app over h3 (defined in test_h3server)."""

from .test_h3server import site  # noqa: F401 (a fixture, found by name)
