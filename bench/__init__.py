"""Benchmarks: our servers against peer servers measured in the same run (``make bench``)."""
