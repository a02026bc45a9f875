"""torch.compile in a run: every model and mode of a CIARD run compiles, none falls back to eager.

All models compile through the same ModelWrapper.forward, and dynamo's default limit of 8 compilations per code
object ran the later models of a run with two teacher architectures eager (first seen on an H200). Dynamo's
limit does not depend on the backend, so the run here compiles with the "eager" backend: seconds on a CPU.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch._dynamo
import yaml
from torch._dynamo.utils import counters

import compressor
from compressor.engine import precision
from tests.conftest import TINY_RECIPE

LIMIT = "recompile_limit" if hasattr(torch._dynamo.config, "recompile_limit") else "cache_size_limit"


def _compiled_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """A whole tiny CIARD run whose three models are three architectures."""
    compile_ = torch.compile
    monkeypatch.setattr(torch, "compile", lambda model, **kw: compile_(model, backend="eager"))
    torch._dynamo.reset()
    counters.clear()
    recipe = yaml.safe_load(yaml.safe_dump(TINY_RECIPE))
    recipe["run"]["output_dir"] = str(tmp_path / "runs")
    recipe["teachers"][0]["model"]["name"] = "small_cnn"
    recipe["teachers"][1]["model"]["name"] = "resnet56"
    recipe["method"] = {"name": "ciard"}
    recipe["train"].update(compile=True, precision="fp32")  # no machine-dependent autocast variants
    recipe["data"]["limit_train"] = 300  # a smaller last batch: one more shape
    before = getattr(torch._dynamo.config, LIMIT)
    setattr(
        torch._dynamo.config, LIMIT, 8
    )  # dynamo's default (pytest's monkeypatch cannot undo on this module)
    try:
        compressor.distill(recipe, quiet=True)
    finally:
        setattr(torch._dynamo.config, LIMIT, before)
    limited = sum(n for reason, n in counters["unimplemented"].items() if "recompile limit" in reason.lower())
    return {"graphs": counters["stats"]["unique_graphs"], "limited": limited}


def test_every_model_and_mode_of_a_run_compiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    found = _compiled_run(tmp_path, monkeypatch)
    assert found["limited"] == 0 and found["graphs"] > 8, found


def test_dynamos_default_limit_sends_models_back_to_eager(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check above can fail: at dynamo's default the same run hits the limit."""
    monkeypatch.setattr(precision, "RECOMPILE_LIMIT", 8)
    found = _compiled_run(tmp_path, monkeypatch)
    assert found["limited"] > 0, found
