"""One writer per run directory: a lock held for a run's lifetime, naming its holder.

Two runs writing one run directory would interleave their metrics and overwrite each other's checkpoints.
The lock is `flock` on `<run>/.lock` (the kernel releases it when the holder dies, however it dies); the
file records the holder (pid, host, start time) for the error a second run prints. A record left by a
holder that died without releasing is taken over with a note.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from compressor.errors import UserInputError

LOCK_NAME = ".lock"


def _holder_text(raw: bytes) -> str:
    """'pid 123 on host h since 2026-01-01 10:00:00 UTC' from a lock record (or what can be read of it)."""
    try:
        record = json.loads(raw)
        return f"pid {record['pid']} on host {record['host']} since {record['started']}"
    except (ValueError, KeyError, TypeError):
        return "another process (its lock record is unreadable)"


def _read(fd: int) -> bytes:
    return os.pread(fd, 4096, 0).strip()


@contextmanager
def run_lock(root: Path, note: Callable[[str], None]) -> Iterator[None]:
    """Hold the run directory `root` (created if needed) for the block; a second holder is a one-line error."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise UserInputError(
            f"run directory '{root}' cannot be written ({err.strerror}); copy it somewhere writable"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder_text(_read(fd))
        os.close(fd)
        raise UserInputError(
            f"run directory '{root}' is in use by {holder}; wait for that run to finish, "
            "or give this one another run.name"
        ) from None
    try:
        previous = _read(fd)
        if previous:
            note(f"took over the lock of {_holder_text(previous)}, which ended without releasing it")
        started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        record = {"pid": os.getpid(), "host": socket.gethostname(), "started": started}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        yield
    finally:
        os.ftruncate(fd, 0)  # released: the next holder has nothing to take over (a kill skips this)
        os.close(fd)  # closing releases the flock
