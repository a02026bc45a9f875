"""A typo anywhere in a recipe stops `compressor distill` before any compute: exit 2, one line, no run dir."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from typer.testing import CliRunner

from compressor.cli.main import app

# (override, a phrase the one-line error must contain): one or more mistakes in every recipe section.
HOSTILE = [
    ("descriptoin=x", "unknown key 'descriptoin'"),
    ("run.devcie=cpu", "did you mean 'device'"),
    ("run.name=two words", "run.name"),
    ("data.dataset=digts", "data.dataset"),
    ("data.batch_sise=8", "did you mean 'batch_size'"),
    ("data.val_fraction=1", "data.val_fraction"),
    ("data.val_fraction=0", "must be > 0"),
    ("data.dataset=mnist", "data.root is required"),
    ("data.root=/nope/zz9", "not a folder"),
    ("teachers.0.role=robst", "teachers.0.role"),
    ("teachers.0.model.name=tiny_cn", "unknown timm model 'tiny_cn'"),
    ("teachers.0.model.checkpoint=/nope/t.safetensors", "not found"),
    ("teachers.1.train.method.name=natral", "unknown method 'natral'"),
    ("teachers.1.train.method.name=ard", "a teacher trains with one of"),
    ("teachers.1.train.epoch=1", "did you mean 'epochs'"),
    ("student.name=no_such_net_zz9", "unknown timm model"),
    ("student.checkpoint=/nope/s.safetensors", "not found"),
    ("student.kwargs={widht: 8}", "model 'tiny_cnn' has no argument widht"),
    ("teachers.0.model.kwargs={padding: 0}", "model 'tiny_cnn' has no argument padding"),
    ("student.kwargs={width: abc}", "model 'tiny_cnn' does not build with kwargs"),
    ("method.name=pgd_ta", "did you mean 'pgd_at'"),
    ("method.beta=6", "unknown key 'method.beta'"),
    ("export.probe_attack=pgd2O", "export.probe_attack"),
    ("export.probe_attack=autoattack", "probes need one white-box attack"),
    ("attack.nrom=linf", "did you mean 'norm'"),
    ("attack.eps=-1", "attack.eps"),
    ("optim.name=sgdd", "optim.name"),
    ("schedule.name=cosin", "schedule.name"),
    ("train.epochs=0", "train.epochs"),
    ("train.precison=fp32", "did you mean 'precision'"),
    ("evaluate.attacks=[pgd20,autoatack]", "did you mean 'autoattack'"),
    ("evaluate.attacks=[pgd0]", "unknown attack 'pgd0'"),
    ("evaluate.num_imgaes=5", "did you mean 'num_images'"),
    ("export.formats=[int9]", "export.formats"),
    ("export.opset=9", "export.opset"),
    ("verify.backends=[onnxruntime-cpy]", "verify.backends"),
    ("verify.formats=[int8]", "'int8' is not exported"),
    ("verify.tolerances={fp32: {max_abs_logit_dif: 1}}", "max_abs_logit_dif"),
    ("report.plot=true", "did you mean 'plots'"),
    # meaningless threat models: not finite, or a radius that reaches every [0,1] image
    ("attack.eps=.inf", "attack.eps: inf is not a radius"),
    ("attack.eps=.nan", "attack.eps"),
    ("attack.eps=1e9", "attack.eps: 1e+09 reaches every image"),
    ("attack.eps=8", "did you mean 8/255?"),
    ("teachers.0.train.attack={eps: 1.5}", "teachers.0.train.attack.eps: 1.5 reaches every image"),
    ("evaluate.eps=1", "evaluate.eps: 1 reaches every image"),
    ("evaluate.eps_curve=[0.1,.nan]", "evaluate.eps_curve.1: nan is not a radius"),
    ("evaluate.zero_shot_eps=[-.inf]", "evaluate.zero_shot_eps.0: -inf is not a radius"),
]
# Mistakes that need two overrides together (a method whose teachers the recipe lacks).
PAIRS = [
    (["method.name=ciard", "teachers=[]"], "needs a robust and a clean teacher"),
    (["method.name=kd", "method.teacher=robst"], "method.teacher"),
    (["method.name=kd", "teachers=[]"], "needs a clean teacher"),
    (["attack.norm=l2", "attack.eps=8"], "an L2 radius over 64 input values (diameter 8) must be below 8"),
    (["evaluate.norm=l2", "evaluate.eps_curve=[0.5,100]"], "evaluate.eps_curve.1: 100 reaches every image"),
]


@pytest.fixture
def distill(tiny_recipe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run `compressor distill` in-process on the tiny recipe; fail the test if any compute starts."""

    def no_compute(*args: object, **kwargs: object) -> None:
        raise AssertionError("the pipeline started: the mistake was not caught before compute")

    monkeypatch.setattr("compressor.pipeline.run.run_pipeline", no_compute)

    def run(overrides: list[str]) -> tuple[int, list[str]]:
        result = CliRunner().invoke(app, ["distill", str(tiny_recipe()), *overrides])
        assert not (tmp_path / "runs").exists(), "something was written into the run directory"
        return result.exit_code, [line for line in result.output.splitlines() if line.strip()]

    return run


@pytest.mark.parametrize(("override", "needle"), HOSTILE, ids=[case[0] for case in HOSTILE])
def test_a_typo_stops_distill_before_compute(distill, override: str, needle: str) -> None:
    code, lines = distill([override])
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("error:") and needle in lines[0], lines


@pytest.mark.parametrize(("overrides", "needle"), PAIRS, ids=[" ".join(case[0]) for case in PAIRS])
def test_a_method_without_its_teachers_stops_distill(distill, overrides: list[str], needle: str) -> None:
    code, lines = distill(overrides)
    assert code == 2 and len(lines) == 1 and needle in lines[0], lines


def test_the_clean_recipe_reaches_the_pipeline(distill) -> None:
    """The guard itself can fail: a correct recipe does get to the (patched) pipeline."""
    code, lines = distill([])
    assert code == 3 and "the pipeline started" in lines[-1]


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return print, ("this pickle ran code",)


def _write_bad_file(kind: str, path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    if kind == "garbage":
        path.write_bytes(b"definitely not a checkpoint")
    elif kind == "truncated":
        save_file({"w": torch.zeros(64, 64)}, str(path))
        path.write_bytes(path.read_bytes()[:200])
    else:
        torch.save({"state_dict": {"w": torch.zeros(2)}, "x": _Payload()}, path)


@pytest.mark.parametrize(
    ("kind", "where", "needle"),
    [
        ("garbage", "student", "not a readable"),
        ("truncated", "teachers.0.model", "damaged safetensors"),
        ("code", "teachers.1.model", "was refused"),
    ],
)
def test_a_bad_checkpoint_file_stops_distill_before_compute(
    distill, tmp_path: Path, kind: str, where: str, needle: str
) -> None:
    bad = tmp_path / f"{kind}.bin"
    _write_bad_file(kind, bad)
    code, lines = distill([f"{where}.checkpoint={bad}"])
    assert code == 2 and len(lines) == 1 and needle in lines[0] and f"{where}.checkpoint" in lines[0], lines


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_a_backend_missing_on_this_machine_stops_distill(distill) -> None:
    code, lines = distill(["verify.backends=[onnxruntime-cpu,tensorrt]"])
    assert code == 2 and len(lines) == 1 and "TensorRT is not installed" in lines[0], lines
