"""Profiling converted models: latency on LiteRT, operation counts, energy estimates."""
