"""Experiments over many runs: method comparisons, teacher strength (the scripts/ entry points)."""
