"""Benchmarks of the suite (not part of the tests): ``make bench`` or ``python -m benchmarks.run``."""
