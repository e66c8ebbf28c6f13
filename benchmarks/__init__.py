"""Performance benchmarks: each prints ours beside a baseline, as a ratio, from one run."""
