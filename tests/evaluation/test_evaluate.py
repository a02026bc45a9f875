"""evaluate_robustness on a healthy model: consistent numbers, passing checks, files, console, eps curve."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import torch
from rich.console import Console

from compressor.attacks import registry
from compressor.evaluation import (
    AttackSettings,
    evaluate_robustness,
    print_evaluation,
    robust_vs_eps,
    write_evaluation,
)
from compressor.evaluation.robustness import eps_text


def test_healthy_model_numbers_and_checks(digits, tmp_path):
    model, x, y = digits
    model.train()  # evaluation must switch to eval mode and restore
    result = evaluate_robustness(
        model, x, y, attacks=["fgsm", "pgd20", "cw20"], settings=AttackSettings(eps=0.1, batch_size=40)
    )
    assert model.training
    acc = result.robust_accuracy
    assert list(acc) == ["fgsm", "pgd20", "cw20"]
    assert 0.9 <= result.clean_accuracy <= 1.0
    assert result.worst_case_accuracy <= min(acc.values()) <= max(acc.values()) <= result.clean_accuracy
    assert acc["pgd20"] <= acc["fgsm"] < result.clean_accuracy - 0.2
    assert {c.name for c in result.sanity_checks} == {
        "perturbation_bounds",
        "outputs_are_logits",
        "deterministic",
        "gradients",
        "more_steps_and_restarts",
        "large_eps",
        "black_box_vs_white_box",
    }
    assert result.passed, [f"{c.name}: {c.message}" for c in result.failed_checks]
    assert set(result.seconds) == set(acc) and all(t > 0 for t in result.seconds.values())
    assert result.settings["eps_text"] == "0.1" and result.settings["device"].startswith("cpu")

    paths = write_evaluation(result, tmp_path / "run")
    data = json.loads(paths["json"].read_text())
    assert data["robust_accuracy"]["pgd20"] == acc["pgd20"] and data["passed"] is True
    assert "| pgd20 |" in paths["markdown"].read_text()
    buffer = io.StringIO()
    print_evaluation(result, Console(file=buffer, width=120))
    assert "pgd20" in buffer.getvalue() and "FAIL" not in buffer.getvalue()


def test_autoattack_stages_reported(digits, monkeypatch):
    model, x, y = digits
    cheap = {
        "apgd-ce": {"n_iter": 10},
        "apgd-t": {"n_iter": 5, "n_target_classes": 2},
        "fab-t": {"n_iter": 5, "n_target_classes": 2},
        "square": {"n_queries": 50},
    }
    for name, params in cheap.items():  # AutoAttack reads its stages' parameters from the registry
        spec = registry.ATTACKS[name]
        monkeypatch.setitem(registry._REGISTRY, name, replace(spec, params={**spec.params, **params}))
    result = evaluate_robustness(
        model, x, y, attacks=["autoattack"], settings=AttackSettings(eps=0.1), sanity_checks=False
    )
    stages = result.stages["autoattack"]
    assert list(stages) == ["clean", "apgd-ce", "apgd-t", "fab-t", "square"]
    assert (
        stages["clean"] == result.clean_accuracy and stages["square"] == result.robust_accuracy["autoattack"]
    )
    assert list(stages.values()) == sorted(stages.values(), reverse=True)
    assert "autoattack after each stage" in result.to_markdown()


def test_robust_vs_eps_curve_and_plot(digits, tmp_path):
    model, x, y = digits
    curve = robust_vs_eps(model, x, y, [0.3, 0.05, 0.1], out_dir=tmp_path)
    assert curve["eps"] == [0.05, 0.1, 0.3]
    acc = curve["robust_accuracy"]
    assert acc[0] <= curve["clean_accuracy"] and acc[-1] <= 0.02
    assert all(b <= a + 1 / len(y) for a, b in zip(acc, acc[1:], strict=False))
    png = tmp_path / "robust_vs_eps.png"
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_eps_text():
    assert eps_text(8 / 255) == "8/255" and eps_text(2 / 255) == "2/255"
    assert eps_text(0.1) == "0.1" and eps_text(0.5) == "0.5"


def test_evaluation_judges_in_fp32_even_inside_a_bf16_autocast(digits):
    model, x, y = digits
    dtypes: set[torch.dtype] = set()
    first = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    hook = first.register_forward_hook(lambda module, args, out: dtypes.add(out.dtype))
    kwargs = {
        "attacks": ["pgd20"],
        "settings": AttackSettings(eps=0.1, batch_size=48),
        "sanity_checks": False,
    }
    fp32 = evaluate_robustness(model, x, y, **kwargs)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = evaluate_robustness(model, x, y, **kwargs)
    hook.remove()
    assert dtypes == {torch.float32}, "every forward of the evaluation (attacks included) runs in fp32"
    assert inside.settings["precision"] == "fp32"
    assert (inside.clean_accuracy, inside.robust_accuracy) == (fp32.clean_accuracy, fp32.robust_accuracy)
