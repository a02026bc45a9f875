"""Adding a data set, a model, a method, an attack, a runtime backend and a stage is one new module each.

A copy of the two packages gets six new files (one per extension kind, written as the README's contributing
table says; nothing else edited) and one run uses all of them through the real CLI: the data set trains and
tests, the model is the student, the method trains it, the attack is in the evaluation, the backend verifies
the bundle and the stage writes its file from the evaluate stage's declared output.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

NEW_MODULES = {
    "compressor/data/sets/digits_inverted.py": '''
        """The digits with black and white swapped."""

        from __future__ import annotations

        from typing import Any

        from compressor.data.registry import DataSet, register_dataset


        @register_dataset
        class DigitsInverted(DataSet):
            name = "digits_inverted"
            description = "scikit-learn's 8x8 digits, inverted"
            num_classes, channels, image_size = 10, 1, 8

            def load(self, cfg: Any, seed: int) -> Any:
                from compressor.data.bundle import from_tensors
                from compressor.data.sources import Split, digits

                train, test, names = digits()  # float images in [0, 1]
                return from_tensors(cfg, Split(1 - train.x, train.y), Split(1 - test.x, test.y), names)
    ''',
    "compressor/models/zoo/micro_cnn.py": '''
        """One convolution and a linear layer."""

        from __future__ import annotations

        from typing import Any

        from timm.models import register_model
        from torch import Tensor, nn

        from ._base import ZooClassifier
        from ._factory import MNIST_MEAN, MNIST_STD, build_zoo_model, zoo_cfg

        SMOKE_MODELS = ("micro_cnn",)
        default_cfgs = {
            "micro_cnn": zoo_cfg(
                input_size=(1, 28, 28), mean=MNIST_MEAN, std=MNIST_STD, first_conv="conv", classifier="fc",
                description="one conv, one linear layer",
            ),
        }


        class MicroCNN(ZooClassifier):
            def __init__(self, num_classes: int = 10, in_chans: int = 1) -> None:
                super().__init__()
                self.num_classes, self.num_features = num_classes, 8 * 4 * 4
                self.conv = nn.Conv2d(in_chans, 8, 3, padding=1)
                self.pool = nn.AdaptiveAvgPool2d(4)
                self.fc = nn.Linear(self.num_features, num_classes)

            def forward_features(self, x: Tensor) -> Tensor:
                return self.conv(x).relu()

            def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
                x = self.pool(x).flatten(1)
                return x if pre_logits else self.fc(x)


        @register_model
        def micro_cnn(pretrained: bool = False, **kwargs: Any) -> nn.Module:
            return build_zoo_model(MicroCNN, "micro_cnn", default_cfgs["micro_cnn"], pretrained, kwargs)
    ''',
    "compressor/attacks/noise.py": '''
        """Uniform noise inside the ball: a weak black-box baseline."""

        from __future__ import annotations

        import torch

        from compressor.attacks.base import AttackResult, make_generator, predict
        from compressor.attacks.registry import register_attack


        @register_attack("noise", kind="black-box", params={"draws": 3})
        def noise(model, x, y, *, eps, norm="linf", seed=0, draws=3):
            """Uniform noise of size eps, the worst of a few draws."""
            generator = make_generator(x.device, seed)
            x_adv, robust = x.clone(), predict(model, x) == y
            for _ in range(draws):
                step = (2 * torch.rand(x.shape, generator=generator, device=x.device) - 1) * eps
                candidate = (x + step).clamp(0, 1)
                fooled = robust & (predict(model, candidate) != y)
                x_adv[fooled], robust = candidate[fooled], robust & ~fooled
            return AttackResult(x_adv, robust)
    ''',
    "compressor_edge/backends/onnx_reference.py": '''
        """The ONNX reference evaluator (pure numpy): slow, exact, a second opinion."""

        from __future__ import annotations

        from pathlib import Path

        import numpy as np

        from compressor_edge.backends.base import Backend
        from compressor_edge.backends.registry import BackendSpec, LoadOptions, register


        class ReferenceBackend(Backend):
            name = "onnx-reference"

            def __init__(self, path: Path) -> None:
                from onnx.reference import ReferenceEvaluator

                self._session = ReferenceEvaluator(str(path))
                self.max_batch = None

            def run(self, images: np.ndarray) -> np.ndarray:
                feed = {self._session.input_names[0]: images.astype(np.float32)}
                return self._session.run(None, feed)[0]

            def close(self) -> None:
                self._session = None

            def describe(self) -> str:
                return "onnx.reference"


        register(
            BackendSpec(
                name="onnx-reference",
                runtime="onnx",
                summary="the ONNX reference evaluator",
                packages=("onnx",),
                install="pip install onnx",
                load=lambda path, options: ReferenceBackend(path),
                formats=("fp32",),
            )
        )
    ''',
    "compressor/methods/mixed_at.py": '''
        """PGD-AT on a mix of clean and adversarial cross-entropy."""

        from __future__ import annotations

        from typing import Literal

        import torch.nn.functional as F
        from pydantic import Field

        from compressor.config.methods import Params
        from compressor.config.numbers import Number
        from compressor.methods.base import StepOutput, register_method
        from compressor.methods.pgd_at import PGDAT
        from compressor.methods.registry import register_params


        @register_params(single_model=True)
        class MixedATParams(Params):
            name: Literal["mixed_at"]
            clean_weight: Number = Field(0.5, ge=0, le=1)


        @register_method
        class MixedAT(PGDAT):
            name = "mixed_at"

            def loss(self, x, y, x_adv):
                weight = self.params.clean_weight
                adversarial = F.cross_entropy(self.student(x_adv).float(), y)
                ce = (1 - weight) * adversarial + weight * F.cross_entropy(self.student(x).float(), y)
                return StepOutput(ce, {"ce_mixed": ce.detach()})
    ''',
    "compressor/pipeline/stages/card.py": '''
        """A model card from the evaluation, by the evaluate stage's declared output name."""

        from __future__ import annotations

        import json

        from compressor.pipeline.stage import Stage, StageContext, StageResult


        def run_card(ctx: StageContext) -> StageResult:
            evaluation = json.loads(ctx.output("evaluate", "evaluation").read_text())
            card = {"student": ctx.recipe.student.name, "robust_accuracy": evaluation["robust_accuracy"]}
            ctx.run.write_json(ctx.output("card", "card"), card)
            return StageResult(card)


        STAGE = Stage(
            "card",
            run_card,
            lambda recipe: {"student": recipe.student},
            needs=("evaluate",),
            outputs={"card": "card.json"},
            description="write a model card",
        )
    ''',
}


def _copy_with_new_modules(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "compressor", dest / "compressor", ignore=ignore)
    shutil.copytree(ROOT / "edge" / "compressor_edge", dest / "compressor_edge", ignore=ignore)
    for relative, source in NEW_MODULES.items():
        path = dest / relative
        assert not path.exists(), f"{relative} exists already: pick another name for the exercise"
        path.write_text(textwrap.dedent(source).lstrip())


def test_one_module_each_joins_a_real_run(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _copy_with_new_modules(src)
    recipe = {
        "run": {"name": "extended", "seed": 0, "device": "cpu", "output_dir": str(tmp_path / "runs")},
        "data": {"dataset": "digits_inverted", "batch_size": 32, "limit_train": 1000, "limit_test": 64},
        "student": {"name": "micro_cnn"},
        "method": {"name": "mixed_at", "clean_weight": 0.25},
        "attack": {"eps": 0.1, "alpha": 0.025, "steps": 3},
        "optim": {"lr": 0.05},
        "train": {"epochs": 4},
        "evaluate": {"attacks": ["pgd20", "noise"], "num_images": 64, "sanity_checks": False},
        "export": {"formats": ["fp32"], "calibration_images": 32, "num_probes": 32},
        "verify": {
            "backends": ["onnxruntime-cpu", "onnx-reference"],
            "square_queries": 10,
            "latency_runs": 1,
        },
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "import compressor, compressor_edge; print(compressor.__file__, compressor_edge.__file__)",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.count(str(src)) == 2, where.stdout  # the copy runs, not the installed packages

    run = subprocess.run(
        [sys.executable, "-m", "compressor.cli.main", "distill", str(path)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = tmp_path / "runs" / "extended"
    evaluation = json.loads((out / "evaluate" / "evaluation.json").read_text())
    assert set(evaluation["robust_accuracy"]) == {"pgd20", "noise"}
    verify = json.loads((out / "verify" / "verify.json").read_text())
    assert {row["backend"]: row["status"] for row in verify["results"]} == {
        "onnxruntime-cpu": "pass",
        "onnx-reference": "pass",
    }
    card = json.loads((out / "card" / "card.json").read_text())
    assert card == {"student": "micro_cnn", "robust_accuracy": evaluation["robust_accuracy"]}
    data = json.loads((out / "data.json").read_text())
    assert data["dataset"] == "digits_inverted"
    metrics = (out / "distill" / "metrics.jsonl").read_text()
    assert '"ce_mixed"' in metrics  # the new method's loss trained the student
