"""Data sets as a registry (`registry`, one module each under `sets/`), loaded into a `DataBundle` (`loading`).

The registry and the data sets' facts import without torch, so the recipe schema and `validate` stay fast.
"""
