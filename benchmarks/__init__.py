"""Benchmarks of minicnn against PyTorch and numpy-ml (run with ``pytest benchmarks/``, see docs/performance.md)."""
