"""Write a bundle folder atomically: build it beside the target, then swap it in with renames."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from compressor_edge.bundle import MANIFEST_FILE

from compressor.errors import UserInputError


@contextmanager
def staged_dir(target: Path) -> Iterator[Path]:
    """Yield an empty folder beside `target`; on success it replaces `target`, on any error it is deleted.

    An earlier bundle in `target` survives every failure before the swap; the swap is two renames on one
    file system (old bundle aside, new bundle in), and the old one is deleted only after the new one is in.
    """
    if target.exists() and not target.is_dir():
        raise UserInputError(f"{target}: exists and is not a folder; choose another bundle path")
    if target.is_dir() and any(target.iterdir()) and not (target / MANIFEST_FILE).is_file():
        raise UserInputError(
            f"{target}: is a non-empty folder that is not an export bundle; refusing to replace it"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _swap(staging, target)


def _swap(staging: Path, target: Path) -> None:
    aside = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}") if target.exists() else None
    if aside is not None:
        os.replace(target, aside)
    try:
        os.replace(staging, target)
    except BaseException:
        if aside is not None:
            os.replace(aside, target)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)
