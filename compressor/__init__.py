"""compressor: distil small adversarially robust students and ship them to edge devices."""

__version__ = "0.1.0"
