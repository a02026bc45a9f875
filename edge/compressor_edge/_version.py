"""The edge kit's version, in a leaf module (the package and the verify report read it)."""

__version__ = "0.1.0"
