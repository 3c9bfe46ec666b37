"""Checks and benchmarks: tool runners, parsers, metrics, reference comparison, reports."""
