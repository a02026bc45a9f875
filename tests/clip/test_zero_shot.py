"""Zero-shot clean and robust evaluation over several class lists, with one shared image tower."""

from __future__ import annotations

import pytest
import torch

from compressor.evaluation.zero_shot import eps_label, zero_shot_eval


def test_zero_shot_eval_reports_clean_and_robust_per_dataset(make_clip, images):
    model = make_clip()
    x, y = images
    colours = ["red", "green", "blue", "yellow"]
    datasets = {
        "animals": (x, y, ["cat", "dog", "car"]),
        "colours": (x, torch.tensor([0, 1, 2, 3, 0, 1]), colours),
    }
    with pytest.warns(UserWarning, match="'animals': apgd-t skipped"):
        results = zero_shot_eval(model, datasets, eps_list=(2 / 255, 4 / 255), attack_options={"n_iter": 5})
    assert set(results) == {"animals", "colours"}
    for row in results.values():
        assert set(row) == {"clean", "robust@2/255", "robust@4/255"}
        assert 0 <= row["robust@2/255"] <= row["clean"] <= 1
        assert row["robust@4/255"] <= row["clean"]
    with torch.no_grad():
        clean = (model.with_classes(colours)(x).argmax(1) == datasets["colours"][1]).float().mean().item()
    assert results["colours"]["clean"] == clean
    assert eps_label(2 / 255) == "2/255" and eps_label(0.1) == "0.1"
