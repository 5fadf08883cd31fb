"""Throughput, latency and memory of the middleware's authenticated hot path (see docs/benchmarks.md)."""
