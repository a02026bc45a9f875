"""Fixtures: a correct tiny bundle shared by the session, and writable copies of it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from tiny_bundles import make_bundle


@pytest.fixture(scope="session")
def good_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A correct bundle with all three formats (read-only: copy it before changing files)."""
    return make_bundle(tmp_path_factory.mktemp("bundle") / "good")


@pytest.fixture
def bundle_copy(good_bundle: Path, tmp_path: Path) -> Callable[[], Path]:
    """A writable copy of the good bundle, for tests that corrupt it."""

    def copy() -> Path:
        return Path(shutil.copytree(good_bundle, tmp_path / "copy"))

    return copy
