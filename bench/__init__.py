"""Benchmarks of the whole system, each scenario reported against a raw ceiling of the same run."""
