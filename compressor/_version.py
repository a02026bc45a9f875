"""The toolkit's version, in a leaf module (the package, its environment record and the wheel read it)."""

__version__ = "0.1.0"
