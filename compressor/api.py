"""The Python API for notebooks: distil a recipe, evaluate any model, export any model as an edge bundle.

    import compressor
    run = compressor.distill("quickstart", overrides=["train.epochs=1"])
    result = compressor.evaluate(run.student, images, labels, attacks=["autoattack"], eps=8 / 255)
    bundle = compressor.export(run.student, "bundle", images=images, labels=labels, eps=8 / 255)

Every model takes [0,1] pixels ([N, C, H, W]; normalisation lives inside the model), as AutoAttack's
`run_standard_evaluation` expects. Bad input raises `compressor.errors.UserInputError` with the same one line
the command line prints.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from compressor.config.schema import Recipe
from compressor.errors import GateFailed, UserInputError
from compressor.evaluation.result import EvaluationResult
from compressor.rundir import RunDir

if TYPE_CHECKING:
    from compressor.bundling import ExportOptions

ArrayLike = Tensor | np.ndarray
RecipeLike = str | Path | Mapping[str, Any]


@dataclass
class DistillRun:
    """What `distill` made: models (CPU, eval mode), stage records and files (None: stage not run)."""

    run_dir: Path
    recipe: Recipe
    student: nn.Module | None
    teachers: dict[str, nn.Module]
    evaluation: dict[str, Any] | None
    verification: dict[str, Any] | None
    bundle: Path | None
    report: Path | None

    @property
    def passed(self) -> bool | None:
        """Whether every verified (format, runtime) row passed its gate (None: verify not run)."""
        return None if self.verification is None else bool(self.verification.get("passed", False))


def load(
    recipe: RecipeLike, overrides: Sequence[str] = (), allow_plugins: Sequence[str] = ()
) -> tuple[Recipe, list[str]]:
    """A checked recipe and its machine warnings, from a path, a shipped recipe's name or a dict.

    `allow_plugins` names the `plugins:` modules you consent to import (as `--allow-plugins`)."""
    from compressor.recipe_loading import validate_recipe, validate_recipe_data

    if isinstance(recipe, Mapping):
        return validate_recipe_data(
            recipe, list(overrides), on_this_machine=True, allow_plugins=allow_plugins
        )
    from compressor.cli.recipes import resolve_recipe

    return validate_recipe(
        resolve_recipe(str(recipe)), list(overrides), on_this_machine=True, allow_plugins=allow_plugins
    )


def distill(
    recipe: RecipeLike,
    overrides: Sequence[str] = (),
    *,
    stages: Sequence[str] | None = None,
    resume: bool = False,
    force: bool = False,
    quiet: bool = False,
    allow_plugins: Sequence[str] = (),
    student: nn.Module | None = None,
    teachers: Mapping[str, nn.Module] | None = None,
) -> DistillRun:
    """Run a recipe (all stages, or `stages`) as `compressor distill` does, and return what it made.

    `recipe` is a YAML path, a shipped recipe's name (`compressor recipes`) or a dict with the same
    sections; a dict passes the same plugins and checks as a file. `overrides` are `KEY=VALUE` strings.
    `student` and `teachers` (by role) replace the recipe's models with your own modules on [0,1] pixels
    (a teacher module is used as given: its `train:` block is dropped); see `compressor.models.modules`.
    A failed verification gate does not raise here (the command exits 1): `run.passed` is False and
    `run.verification` (verify.json) says which row failed.
    """
    from rich.console import Console

    from compressor.pipeline.run import parse_stages, run_pipeline

    extra = _module_overrides(recipe, student, teachers or {})
    checked, _ = load(recipe, [*overrides, *extra], allow_plugins)
    chosen = parse_stages(",".join(stages)) if stages is not None else None
    with contextlib.suppress(GateFailed):  # every file is written; the returned run's `passed` says so
        run_pipeline(checked, stages=chosen, resume=resume, force=force, console=Console(quiet=quiet))
    return _collect(RunDir(Path(checked.run.output_dir) / checked.run.name), checked)


def evaluate(
    model: nn.Module,
    images: ArrayLike,
    labels: ArrayLike,
    *,
    attacks: Sequence[str] = ("pgd20",),
    eps: float = 8 / 255,
    norm: str = "linf",
    batch_size: int = 256,
    seed: int = 0,
    sanity_checks: bool = True,
    device: torch.device | str | None = None,
) -> EvaluationResult:
    """Clean accuracy, each attack's robust accuracy and the per-sample worst case, with sanity checks.

    `model` is any classifier on [0,1] pixels; `attacks` are names from `compressor evaluate --help`
    (`["autoattack"]` is AutoAttack's standard version). The result's `to_markdown()` is the report table.
    """
    from compressor.attacks import get_attack
    from compressor.evaluation.robustness import AttackSettings, evaluate_robustness

    if norm not in ("linf", "l2"):
        raise UserInputError(f"evaluate: norm must be linf or l2, got {norm!r}")
    if not eps >= 0:
        raise UserInputError(f"evaluate: eps must be >= 0, got {eps!r}")
    for name in attacks:
        get_attack(name)  # one line for an unknown attack, before any compute
    x, y = _batch(images, labels, "evaluate")
    return evaluate_robustness(
        model,
        x,
        y,
        attacks=list(attacks),
        settings=AttackSettings(
            eps=float(eps),
            norm=norm,  # type: ignore[arg-type]
            batch_size=batch_size,
            seed=seed,
            device=device,
        ),
        sanity_checks=sanity_checks,
    )


def export(
    model: nn.Module,
    out: str | Path,
    *,
    images: ArrayLike,
    labels: ArrayLike,
    eps: float = 8 / 255,
    norm: str = "linf",
    class_names: Sequence[str] | None = None,
    calibration_images: ArrayLike | None = None,
    evaluation: EvaluationResult | Mapping[str, Any] | None = None,
    options: ExportOptions | None = None,
) -> Path:
    """Write `model` as an edge bundle in `out`: ONNX files, manifest.json and clean + adversarial probes.

    The first `options.num_probes` of `images`/`labels` (held-out images, [0,1]) become the probes,
    attacked with `options.probe_attack` at `eps`; int8 calibrates on `calibration_images` (default:
    `images`). `evaluation` (from `evaluate`) goes into the manifest as PyTorch's numbers. `options`
    (`compressor.bundling.ExportOptions`: formats, opset, exporter, int8 and Square settings, seed; its
    defaults when None) shape the bundle. Check the bundle with `compressor-edge verify OUT`.
    """
    from compressor.attacks import get_attack
    from compressor.bundling import ExportImages, ExportOptions, export_bundle

    options = options or ExportOptions()
    x, y = _batch(images, labels, "export")
    probes_x, probes_y = x[: options.num_probes], y[: options.num_probes]
    model.eval()
    attack = get_attack(options.probe_attack)
    adversarial = attack(model, probes_x, probes_y, eps=float(eps), norm=norm, seed=options.seed)
    if class_names is None:
        with torch.no_grad():
            class_names = [str(k) for k in range(int(model(probes_x[:1]).shape[-1]))]
    metrics = evaluation.to_dict() if isinstance(evaluation, EvaluationResult) else dict(evaluation or {})
    inputs = ExportImages(
        probe_images=probes_x,
        probe_labels=probes_y,
        probe_adversarial_images=adversarial.x_adv,
        calibration_images=x if calibration_images is None else calibration_images,
    )
    return export_bundle(
        model,
        out,
        inputs,
        class_names=list(class_names),
        eps=float(eps),
        norm=norm,
        pytorch_metrics=metrics,
        options=options,
    )


def _module_overrides(
    recipe: RecipeLike, student: nn.Module | None, teachers: Mapping[str, nn.Module]
) -> list[str]:
    """Overrides that name the given modules as the recipe's student and teachers."""
    from compressor.models.modules import register_module

    extra = [f"student={{name: {register_module(student, 'student')}}}"] if student is not None else []
    if not teachers:
        return extra
    roles = _teacher_roles(recipe)
    for role, module in teachers.items():
        if role not in roles:
            raise UserInputError(
                f"distill: teachers: the recipe has no '{role}' teacher (it has: {', '.join(roles) or 'none'}); "
                "add one to the recipe and your module replaces its model"
            )
        index, name = roles.index(role), register_module(module, f"teachers['{role}']")
        extra += [
            f"teachers.{index}.model={{name: {name}, pretrained: true}}",
            f"teachers.{index}.train=null",
        ]
    return extra


def _teacher_roles(recipe: RecipeLike) -> list[str]:
    """The recipe's teacher roles in order, read before it is checked."""
    import yaml

    from compressor.cli.recipes import resolve_recipe

    if isinstance(recipe, Mapping):
        data: Any = recipe
    else:
        path = resolve_recipe(str(recipe))
        data = yaml.safe_load(path.read_text()) if path.is_file() else {}
    teachers = data.get("teachers") if isinstance(data, dict) else None
    return [str(t.get("role")) for t in teachers or [] if isinstance(t, dict)]


def _batch(images: ArrayLike, labels: ArrayLike, where: str) -> tuple[Tensor, Tensor]:
    """float [N, C, H, W] pixels in [0, 1] and N integer labels, as CPU tensors, or one line saying why not."""
    x = torch.as_tensor(np.asarray(images) if not isinstance(images, Tensor) else images).detach().cpu()
    y = torch.as_tensor(np.asarray(labels) if not isinstance(labels, Tensor) else labels).detach().cpu()
    if x.ndim != 4 or len(x) == 0:
        raise UserInputError(f"{where}: images must be a non-empty [N, C, H, W] batch, got {tuple(x.shape)}")
    x = x.float()
    if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise UserInputError(f"{where}: images must be pixels in [0, 1] (normalisation belongs in the model)")
    if y.shape != (len(x),) or y.is_floating_point() or y.dtype == torch.bool:
        raise UserInputError(
            f"{where}: labels must be {len(x)} integers (one per image), got {y.dtype} {tuple(y.shape)}"
        )
    return x, y.long()


def _collect(run: RunDir, recipe: Recipe) -> DistillRun:
    """The models and files a run directory holds after `distill`."""
    from compressor.models.build import build_model, freeze
    from compressor.pipeline.artifacts import load_data_info, load_student
    from compressor.pipeline.stage import read_output, stage_output

    student = None
    info = load_data_info(run) if run.data_info.is_file() else None
    if info is not None and stage_output(run, "distill", "best").is_file():
        student = load_student(run, recipe)
    weights = {
        spec.role: stage_output(run, "teachers", "weights", role=spec.role) for spec in recipe.teachers
    }
    teachers: dict[str, nn.Module] = {
        spec.role: freeze(build_model(spec.model, info, weights[spec.role]))
        for spec in recipe.teachers
        if info is not None and weights[spec.role].is_file()
    }
    report = stage_output(run, "report", "report")
    return DistillRun(
        run_dir=run.root,
        recipe=recipe,
        student=student,
        teachers=teachers,
        evaluation=read_output(run, "evaluate", "evaluation"),
        verification=read_output(run, "verify", "verify"),
        bundle=stage_output(run, "export", "bundle")
        if stage_output(run, "export", "manifest").is_file()
        else None,
        report=report if report.is_file() else None,
    )
