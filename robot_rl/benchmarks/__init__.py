"""Benchmarks behind `robot-rl bench ...`: each prints one JSON object (figures go to docs/benchmarks.md)."""
