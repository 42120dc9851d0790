"""Benchmarks: calls per box, the latency the platform adds, and scheduler claims.

`make bench` (python -m benchmarks.run) starts the platform, a fake Realtime model and a
load generator that plays Asterisk, each in its own process, and writes
benchmarks/results/latest.{json,md}. Not part of the test suite except a smoke run.
"""
