"""Errors the edge kit raises for bad input; the CLI prints them as one line (exit code 2)."""

from __future__ import annotations


class BundleError(Exception):
    """A missing, corrupt or inconsistent bundle, or an unusable input: `str(err)` is the user's line."""


class BackendUnavailable(BundleError):
    """The requested backend cannot run here (package, driver or device missing)."""
