"""Benchmarks: `make bench` runs every section in `bench/__main__.py` on one PostgreSQL."""
