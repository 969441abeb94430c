"""Benchmarks, run against real PostgreSQL and NATS; see docs/benchmarks.md."""
