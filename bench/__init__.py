"""Benchmarks of proofbound's resource-server path (``make bench``; see bench/README.md)."""
