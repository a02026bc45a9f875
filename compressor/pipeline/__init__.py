"""A recipe's life cycle: `Stage` objects and their registry (stage.py, stages/) and the runner (run.py)."""
