"""One entry point from a recipe's model spec to a [0,1]-input classifier."""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from torch import nn

from compressor.config.schema import ModelSpec
from compressor.errors import UserInputError
from compressor.models.hub import HF_PREFIX
from compressor.models.wrapper import Normalized

_NO_NORMALISATION = ((0.0,), (1.0,))


def check_model_name(spec: ModelSpec) -> None:
    """Raise a one-line error if the spec names a model that does not exist (Hub names: by form only)."""
    if spec.source == "robustbench":
        from compressor.models.robustbench import zoo_entry

        zoo_entry(spec)
        return
    if spec.name.startswith(HF_PREFIX):
        if not re.fullmatch(r"hf-hub:[\w.-]+/[\w.-]+(@[\w./-]+)?", spec.name):
            raise UserInputError(
                f"'{spec.name}': a Hub name is hf-hub:ORG/REPO (e.g. hf-hub:timm/resnet18.a1_in1k)"
            )
        return
    if spec.source == "open_clip":
        import open_clip

        from compressor.models.clip_tiny import register_tiny_clips

        register_tiny_clips()

        if spec.name.startswith("local-dir:") or spec.name in open_clip.list_models():
            return
        known = open_clip.list_models()
    else:
        import timm

        import compressor.models.catalog  # noqa: F401  (registers the small-input architectures)

        if timm.is_model(spec.name):
            _check_zoo_kwargs(spec)
            return
        known = timm.list_models()
    import difflib

    close = difflib.get_close_matches(spec.name, known, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(repr(c) for c in close)}?" if close else "check the spelling"
    raise UserInputError(f"unknown {spec.source} model '{spec.name}'; {hint}")


def _check_zoo_kwargs(spec: ModelSpec) -> None:
    """A zoo model's kwargs are its constructor's: built on the meta device (no memory, no weights) to check."""
    from compressor.models.catalog import ZOO_MODELS

    if spec.name not in ZOO_MODELS or not spec.kwargs:
        return
    import timm

    try:
        with torch.device("meta"):
            timm.create_model(spec.name, **spec.kwargs)
    except TypeError as err:
        raise UserInputError(f"model '{spec.name}' does not build with kwargs {spec.kwargs}: {err}") from None


def _normalisation(net: nn.Module, spec: ModelSpec, in_chans: int) -> tuple[Sequence[float], Sequence[float]]:
    if spec.mean is not None and spec.std is not None:
        return spec.mean, spec.std
    if (
        spec.checkpoint_format == "robustbench"
    ):  # RobustBench networks take [0,1] pixels unless the recipe says
        return _NO_NORMALISATION[0] * in_chans, _NO_NORMALISATION[1] * in_chans
    cfg = getattr(net, "pretrained_cfg", None) or getattr(net, "default_cfg", None) or {}
    mean, std = cfg.get("mean"), cfg.get("std")
    if mean is None or std is None:
        mean, std = _NO_NORMALISATION
    if len(mean) != in_chans:
        mean, std = [sum(mean) / len(mean)] * in_chans, [sum(std) / len(std)] * in_chans
    return mean, std


def network_channels(spec: ModelSpec, in_chans: int) -> int:
    """Channels the network itself takes: RGB for weights trained on colour (pretrained, RobustBench, or
    `kwargs: {in_chans: 3}`), else the data's; grey data then goes through `Normalized(grey_input=True)`.
    A module given from Python (its `pretrained` means "weights as given") takes the data's channels."""
    from compressor.models.modules import is_own_module

    if is_own_module(spec.name):
        return in_chans
    from_colour = bool(spec.pretrained) or spec.checkpoint_format == "robustbench"
    chans = int(spec.kwargs.get("in_chans", 3 if from_colour else in_chans))
    if chans != in_chans and in_chans != 1:
        raise UserInputError(
            f"model '{spec.name}': kwargs.in_chans {chans} for {in_chans}-channel data; "
            "only grey data can feed a network of another channel count (it is repeated into RGB)"
        )
    return chans


def create_classifier(
    spec: ModelSpec,
    *,
    num_classes: int,
    in_chans: int,
    class_names: Sequence[str] | None = None,
    device: torch.device | str | None = None,
) -> nn.Module:
    """Build the model a spec names, load its checkpoint if any, and wrap it to take [0,1] pixels.

    Pretrained and `hf-hub:` models come through timm's / open_clip's own Hub code (the local Hugging Face
    cache when HF_HUB_OFFLINE=1); a RobustBench entry becomes our architecture with RobustBench's file.
    """
    check_model_name(spec)
    if spec.source == "robustbench":
        from compressor.models.robustbench import as_timm_spec, missing_checkpoint

        problem = missing_checkpoint(spec)
        if problem:
            raise UserInputError(problem)
        spec = as_timm_spec(spec)
    if spec.source == "open_clip":
        from compressor.models.clip import build_clip_classifier

        if class_names is None:
            raise UserInputError(f"CLIP model '{spec.name}' needs class names (data.class_names)")
        return build_clip_classifier(spec, list(class_names), device)
    chans = network_channels(spec, in_chans)
    net = _create_timm(spec, num_classes, chans)
    model = Normalized(net, *_normalisation(net, spec, chans), grey_input=chans != in_chans)
    if spec.checkpoint is not None:
        load_checkpoint_into(model, spec)
    return model


def _create_timm(spec: ModelSpec, num_classes: int, in_chans: int) -> nn.Module:
    """timm's model, pretrained weights through its Hub code (classifier resized to `num_classes`)."""
    import timm

    from compressor.models import hub

    problem = hub.offline_problem(spec)
    if problem:
        raise UserInputError(problem)
    pretrained = bool(spec.pretrained) and spec.checkpoint is None
    try:
        kwargs = {**spec.kwargs, "in_chans": in_chans}
        return timm.create_model(spec.name, pretrained=pretrained, num_classes=num_classes, **kwargs)
    except UserInputError:
        raise
    except Exception as exc:  # network and Hub errors come in many types
        if not (pretrained or spec.name.startswith(HF_PREFIX)):
            raise
        raise UserInputError(hub.load_error(spec, exc)) from None


def load_checkpoint_into(model: Normalized, spec: ModelSpec) -> None:
    """Load a local checkpoint (ours: wrapper keys; foreign: bare network keys) into `model`."""
    from compressor.models import weights as ckpt

    path = spec.checkpoint
    assert path is not None
    if spec.checkpoint_format == "robustbench":
        state = ckpt.load_robustbench_checkpoint(path, spec.name, trust_pickle=spec.trust_pickle)
        ckpt.load_into(model.net, state)
        return
    state = ckpt.load_state_dict_file(path, trust_pickle=spec.trust_pickle)
    target = model if any(k.startswith("net.") for k in state) else model.net
    ckpt.load_into(target, state)
