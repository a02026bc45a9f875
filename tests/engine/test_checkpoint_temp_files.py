"""`save_checkpoint` removes its own temporary folders and dead processes', never a live process's."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from torch import nn

from compressor.engine.resume import changed_parts, latest_checkpoint, save_checkpoint


def test_another_live_process_keeps_its_temporary_folder(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        host = socket.gethostname()
        theirs = tmp_path / f".tmp-{host}-{live.pid}-abc"
        orphan = tmp_path / f".tmp-{host}-{dead.pid}-def"
        elsewhere = tmp_path / f".tmp-another-host-{dead.pid}-ghi"
        for folder in (theirs, orphan, elsewhere):
            folder.mkdir()
            (folder / "state.pt").write_bytes(b"half written")
        save_checkpoint(tmp_path, "ckpt-0001", nn.Linear(2, 2), {}, {"epoch": 1}, {"optim": "abc"})
        assert theirs.is_dir() and elsewhere.is_dir(), "another process's temporary folder was removed"
        assert not orphan.exists(), "a dead process's leftover was kept"
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(f".tmp-{host}-{os.getpid()}-")]
    finally:
        live.kill()
        live.wait()
    saved = latest_checkpoint(tmp_path)
    assert saved is not None
    assert changed_parts(saved, {"optim": "abc"}) == []
    assert changed_parts(saved, {"optim": "xyz", "student": "s"}) == ["optim", "student"]
