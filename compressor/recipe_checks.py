"""Every check a recipe can pass or fail without training: names, files, attacks, backends, tolerances.

`load_recipe` runs these for every command, so a typo costs seconds, not a training run; `compressor
validate` runs exactly this and nothing more. What depends on the machine (a data folder, TensorRT) is a
warning for `validate`, which may run on a laptop for a cluster job, and an error for a run on this machine.
"""

from __future__ import annotations

from pathlib import Path

from compressor.config.schema import DataConfig, ModelSpec, Recipe
from compressor.data.registry import get_dataset
from compressor.errors import UserInputError
from compressor.threat_model import check_threat_model


def num_classes(data: DataConfig) -> int | None:
    """How many classes the data set has, when that is known before loading it."""
    return get_dataset(data.dataset).classes(data)


def _check_data(data: DataConfig, where: str) -> None:
    """The data set is registered and, when it lives in a folder, the recipe names one."""
    try:
        dataset = get_dataset(data.dataset)
    except UserInputError as err:
        raise UserInputError(f"{where}.dataset: {err}") from None
    if dataset.needs_root and data.root is None:
        raise UserInputError(f"{where}.root is required for dataset '{data.dataset}' (the folder holding it)")


def _check_backends(names: list[str], source: str) -> None:
    """Every verify backend is one the edge kit registered (compressor_edge.backends: the one list)."""
    from compressor_edge.backends import backend_spec
    from compressor_edge.errors import BundleError

    for index, name in enumerate(names):
        try:
            backend_spec(name)
        except BundleError as err:
            raise UserInputError(f"{source}: verify.backends.{index}: {err}") from None


def _check_model(spec: ModelSpec, where: str) -> None:
    from compressor.models import check_model_name

    try:
        check_model_name(spec)
    except UserInputError as err:
        raise UserInputError(f"{where}: {err}") from None
    if spec.source == "robustbench":
        from compressor.models.robustbench import checkpoint_path, missing_checkpoint

        problem = missing_checkpoint(spec)
        if problem:
            raise UserInputError(f"{where}: {problem}")
        path = checkpoint_path(spec)
    elif spec.checkpoint is None:
        return
    else:
        path = Path(spec.checkpoint).expanduser()
    if not path.is_file():
        raise UserInputError(
            f"{where}.checkpoint: file '{spec.checkpoint}' not found; fix the path or remove the key"
        )
    from compressor.models.weights import check_checkpoint_file

    try:
        check_checkpoint_file(path, trust_pickle=spec.trust_pickle)
    except UserInputError as err:
        raise UserInputError(f"{where}.checkpoint: {err}") from None


def _backend_problem(name: str) -> str | None:
    """What is missing on this machine to verify on backend `name` (from the edge kit's registry), or None."""
    from compressor_edge.backends import backend_spec

    spec = backend_spec(name)
    if not spec.missing_packages():
        return None
    return f"verify.backends: {name!r} is listed but {spec.runtime} is not installed on this machine; {spec.install}"


def _data_problem(data: DataConfig, where: str) -> str | None:
    """Why this machine cannot load the data set (None when it can, or will download it).

    When the files are here, what they hold is checked too (an ImageFolder's classes and sizes): bad data
    is an error wherever it is found.
    """
    dataset = get_dataset(data.dataset)
    problem = dataset.problem(data, where)
    if problem is None and data.root is not None and Path(str(data.root)).expanduser().is_dir():
        dataset.findings(data, where)
    return problem


def data_findings(data: DataConfig, where: str = "data") -> list[str]:
    """What `validate` found in the data on this machine, one line each (none when it is not here)."""
    dataset = get_dataset(data.dataset)
    return [] if dataset.problem(data, where) else dataset.findings(data, where)


def _hub_problems(recipe: Recipe) -> list[str]:
    """Hub files an offline machine lacks in its Hugging Face cache, per model."""
    from compressor.models.hub import offline_problem

    models = [("student", recipe.student)]
    models += [(f"teachers.{i}.model", t.model) for i, t in enumerate(recipe.teachers)]
    problems = []
    for where, spec in models:
        try:
            problem = offline_problem(spec)
        except UserInputError as err:  # e.g. an unknown open_clip pretrained tag
            raise UserInputError(f"{where}: {err}") from None
        if problem:
            problems.append(f"{where}: {problem}")
    return problems


def _check_attacks(recipe: Recipe, source: str) -> None:
    from compressor.attacks.registry import get_attack

    classes = num_classes(recipe.data)
    for index, name in enumerate(recipe.evaluate.attacks):
        try:
            spec = get_attack(name)
        except UserInputError as err:
            raise UserInputError(f"{source}: evaluate.attacks.{index}: {err}") from None
        if classes is not None and classes < spec.min_classes:
            raise UserInputError(
                f"{source}: evaluate.attacks.{index}: '{name}' needs at least {spec.min_classes} classes, "
                f"the data has {classes}"
            )
    _check_white_box(recipe.export.probe_attack, f"{source}: export.probe_attack", "probes")
    _check_white_box(
        recipe.evaluate.teacher_attack, f"{source}: evaluate.teacher_attack", "the teacher check"
    )


def _check_white_box(name: str, where: str, purpose: str) -> None:
    from compressor.attacks.registry import get_attack

    try:
        attack = get_attack(name)
    except UserInputError as err:
        raise UserInputError(f"{where}: {err}") from None
    if attack.kind != "white-box":
        raise UserInputError(
            f"{where}: '{attack.name}' is {attack.kind}; {purpose} need one white-box attack (e.g. pgd20, apgd-ce)"
        )


def _check_export(recipe: Recipe, source: str) -> None:
    missing = [f for f in recipe.verify.formats or () if f not in recipe.export.formats]
    if missing:
        raise UserInputError(
            f"{source}: verify.formats: '{missing[0]}' is not exported (export.formats: "
            f"{', '.join(recipe.export.formats)})"
        )
    try:
        from compressor_edge.tolerances import VerifyTolerances
    except ModuleNotFoundError:
        raise UserInputError(
            "the edge kit (package compressor-edge) is not installed; `pip install compressor` installs it"
        ) from None
    try:
        VerifyTolerances.from_dict(recipe.verify.tolerances)
    except ValueError as err:
        raise UserInputError(f"{source}: verify.{err}") from None


def check_recipe(recipe: Recipe, source: str, *, on_this_machine: bool = False) -> list[str]:
    """Raise a one-line error for anything that would fail later; return the warnings.

    With ``on_this_machine`` (a run here), the machine-dependent warnings are errors too.
    """
    _check_data(recipe.data, f"{source}: data")
    for index, zero_shot in enumerate(recipe.evaluate.zero_shot):
        _check_data(zero_shot, f"{source}: evaluate.zero_shot.{index}")
    _check_model(recipe.student, f"{source}: student")
    for index, teacher in enumerate(recipe.teachers):
        _check_model(teacher.model, f"{source}: teachers.{index}.model")
        model = teacher.model
        has_file = model.checkpoint is not None or model.source == "robustbench"
        if teacher.train is None and not model.pretrained and not has_file and not model.pretrain:
            raise UserInputError(
                f"{source}: teachers.{index} ({teacher.role}) has no weights: give it `train:`, "
                "`pretrained: true`, a `checkpoint:` or (open_clip) `pretrain:`"
            )
    advisories = check_threat_model(recipe, source)
    _check_attacks(recipe, source)
    _check_export(recipe, source)
    _check_backends(recipe.verify.backends, source)
    from compressor.trackers import check_loggers

    check_loggers(recipe.report.loggers, f"{source}: report.loggers")
    problems = [_data_problem(recipe.data, "data"), *_hub_problems(recipe)]
    problems += [_data_problem(z, f"evaluate.zero_shot.{i}") for i, z in enumerate(recipe.evaluate.zero_shot)]
    problems += [_backend_problem(name) for name in recipe.verify.backends]
    if (
        "tensorrt" in recipe.verify.backends
        and "int8" in recipe.export.formats
        and not recipe.export.tensorrt.enabled
    ):
        problems.append(
            "verify.backends: 'tensorrt' is listed but export.tensorrt.enabled is false, so the bundle gets no int8 "
            "file for TensorRT (its int8 row will fail); set export.tensorrt.enabled: true"
        )
    warnings = [f"{source}: {p}" for p in problems if p is not None]
    if on_this_machine and warnings:
        raise UserInputError(warnings[0])
    return warnings + advisories
