"""Smoke mode: the same pipeline on a few images and small models, in seconds, offline on a CPU.

An ImageFolder recipe runs on a few of the user's own images (at their own size and channels), so a wiring
error in their data shows at once; other data sets are replaced by synthetic data of the same shape.

Used by the test suite on every shipped recipe, and by users (`compressor distill R --smoke`) to check a
recipe's wiring before a long run. Only sizes change: the method, its parameters, the stages and the code
path are the recipe's own.
"""

from __future__ import annotations

from typing import Any

from compressor.config.schema import DataConfig, ModelSpec, Recipe, TeacherSpec, TeacherTraining
from compressor.data.registry import get_dataset
from compressor.methods.registry import method_info, method_names
from compressor.recipe_checks import num_classes

SMOKE_CLIP = "compressor-tiny-vit"
SMOKE_CLIP_SIZE = 32  # the tiny CLIP's input side
# An untrained smoke model has near-tied logits, so reduced precision flips its argmax at random: keep the
# fp32 parity gate (a real export check) and open the accuracy gates of the reduced-precision formats.
_SMOKE_GATES = {
    "max_abs_logit_diff": 100.0,
    "max_rel_logit_diff": 100.0,
    "min_top1_agreement": 0.0,
    "max_clean_acc_drop": 1.0,
    "max_adv_acc_drop": 1.0,
    "max_square_acc_drop": 1.0,
}


def _small_model(spec: ModelSpec) -> ModelSpec:
    if spec.source == "open_clip":
        pretrain = spec.pretrain and spec.pretrain.model_copy(update={"epochs": 1})
        update = {"name": SMOKE_CLIP, "pretrained": False, "checkpoint": None, "pretrain": pretrain}
        return spec.model_copy(update=update)
    from compressor.models.catalog import SMOKE_MODELS

    name = spec.name if spec.name in SMOKE_MODELS else "tiny_cnn"
    return spec.model_copy(update={"name": name, "pretrained": False, "checkpoint": None, "kwargs": {}})


def _teacher_method(role: str) -> dict[str, Any]:
    """The method registered as the default training of a teacher of `role` (PGD-AT, natural training)."""
    return {"name": next(n for n in method_names() if method_info(n).default_for == role)}


def _teacher(spec: TeacherSpec) -> TeacherSpec:
    """One epoch of the teacher's own training method, or of a registered one that fits its role."""
    method = spec.train.method.model_dump() if spec.train is not None else _teacher_method(spec.role)
    train = TeacherTraining.model_validate({"method": method, "epochs": 1})
    return spec.model_copy(update={"model": _small_model(spec.model), "train": train})


def _synthetic_like(data: DataConfig, size: int) -> DataConfig:
    """A small synthetic stand-in with the same classes (for zero-shot evaluation sets)."""
    classes = num_classes(data) or 10  # an ImageFolder root not on this machine: any count will do
    names = data.class_names or [f"class {i}" for i in range(classes)]
    return DataConfig(
        dataset="synthetic",
        class_names=names,
        synthetic={
            "num_classes": classes,
            "image_size": size,
            "channels": 3,
            "train_size": 16,
            "test_size": 16,
        },
    )


def _own_images(d: DataConfig, clip: bool) -> DataConfig | None:
    """A few of the user's own images (an ImageFolder on this machine), or None for synthetic data."""
    dataset = get_dataset(d.dataset)
    if not dataset.smoke_on_own_files or dataset.problem(d, "data"):
        return None
    return d.model_copy(
        update={
            "batch_size": 16,
            "eval_batch_size": 32,
            "num_workers": 0,
            "limit_train": 64,
            "limit_test": 32,
            "val_fraction": 0.5,  # 32 held-out images: calibration and robust-int8 checks get some
            "image_size": SMOKE_CLIP_SIZE if clip else d.image_size,
            "eval_transform": "auto" if clip else d.eval_transform,
        }
    )


def _synthetic_data(d: DataConfig, clip: bool) -> DataConfig:
    """Synthetic data with the recipe's classes and channels, small images."""
    classes = num_classes(d) or 10
    channels = get_dataset(d.dataset).geometry(d)[0] or 3
    return d.model_copy(
        update={
            "dataset": "synthetic",
            "root": None,
            "download": False,
            "batch_size": 16,
            "eval_batch_size": 32,
            "num_workers": 0,
            "limit_train": None,
            "limit_test": None,
            "image_size": None,
            "channels": None,
            "class_names": d.class_names or ([f"class {i}" for i in range(classes)] if clip else None),
            "synthetic": d.synthetic.model_copy(
                update={
                    "num_classes": classes,
                    "image_size": SMOKE_CLIP_SIZE if clip else 16,
                    "channels": channels,
                    "train_size": 64,
                    "test_size": 32,
                }
            ),
        }
    )


def smoke_recipe(recipe: Recipe, output_dir: str | None = None) -> Recipe:
    """A copy of `recipe` shrunk to a few steps on a few of the user's images, else on synthetic data."""
    clip = recipe.student.source == "open_clip"
    data = _own_images(recipe.data, clip) or _synthetic_data(recipe.data, clip)
    size = SMOKE_CLIP_SIZE if clip else 16
    updates: dict[str, Any] = {
        "run": recipe.run.model_copy(
            update={
                "name": f"{recipe.run.name}-smoke",
                "device": "cpu",
                "smoke": True,
                **({"output_dir": output_dir} if output_dir else {}),
            }
        ),
        "data": data,
        "student": _small_model(recipe.student),
        "teachers": [_teacher(t) for t in recipe.teachers],
        "attack": recipe.attack.model_copy(update={"steps": 2}),
        "train": recipe.train.model_copy(
            update={
                "epochs": 1,
                "max_steps_per_epoch": 2,
                "precision": "fp32",
                "compile": False,
                "channels_last": False,
                "log_every": 1,
                "allow_chance_teacher": True,  # smoke teachers barely train
            }
        ),
        "evaluate": recipe.evaluate.model_copy(
            update={
                "attacks": ["apgd-ce"] if clip else ["pgd20"],
                "num_images": 16,
                "sanity_checks": False,
                "eps_curve": [],
                "zero_shot": [_synthetic_like(z, size) for z in recipe.evaluate.zero_shot],
            }
        ),
        "export": recipe.export.model_copy(
            update={
                "calibration_images": 16,
                "num_probes": 16,
                "tensorrt": recipe.export.tensorrt.model_copy(update={"enabled": False}),
            }
        ),
        "verify": recipe.verify.model_copy(
            update={
                "backends": ["onnxruntime-cpu"],
                "square_queries": 5,
                "tolerances": {"fp16": _SMOKE_GATES, "int8": _SMOKE_GATES},
                "allow_chance_reference": True,  # an untrained smoke model is at chance by design
            }
        ),
    }
    return _with_sections(recipe, updates)


def _with_sections(recipe: Recipe, sections: dict[str, Any]) -> Recipe:
    """`recipe` with whole sections replaced (models, lists of models or plain values), validated again."""

    def dumped(value: Any) -> Any:
        if hasattr(value, "model_dump"):
            return value.model_dump()
        return [v.model_dump() for v in value] if isinstance(value, list) else value

    return Recipe.model_validate({**recipe.model_dump(), **{k: dumped(v) for k, v in sections.items()}})
