"""`compressor verify RUN_DIR` exits 0 on a passing bundle and 1 when a gate fails, artifacts kept."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "compressor.cli.main", *args], capture_output=True, text=True
    )


def test_verify_exit_codes_follow_the_verdict(tiny_recipe) -> None:
    recipe = tiny_recipe(verify={"square_queries": 10, "allow_chance_reference": True})
    run = Path(yaml.safe_load(recipe.read_text())["run"]["output_dir"]) / "tiny"
    done = _cli("distill", str(recipe))
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((run / "verify" / "verify.json").read_text())["passed"]

    again = _cli("verify", str(run))
    assert again.returncode == 0, again.stdout[-1000:] + again.stderr[-1000:]
    assert "error" not in again.stderr.lower()

    tiny_file = {"fp32": {"max_size_mb": 1e-6}}  # no ONNX file is that small: the size gate must fail
    strict = tiny_recipe(
        verify={"square_queries": 10, "allow_chance_reference": True, "tolerances": tiny_file}
    )
    failing = _cli("distill", str(strict), "--stages", "verify")
    assert failing.returncode == 1, failing.stderr[-1000:]
    assert "verification failed" in failing.stdout + failing.stderr
    assert (run / "verify" / "verify.json").is_file()  # every artifact is still written
