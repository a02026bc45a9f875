"""RobustBench zoo names as teachers: `source: robustbench` resolved to our architecture and RobustBench's file.

RobustBench (Croce et al. 2021) keeps a downloaded model at `<model_dir>/<dataset>/<threat_model>/<name>.pt`
(`model_dir` defaults to ./models, as in `robustbench.utils.load_model`). The entries below are the ones whose
network is one of our zoo architectures with RobustBench's parameter names (its WideResNet, ResNet-18 and
PreActResNet-18), checked against RobustBench's `model_zoo/cifar10.py` and `cifar100.py`; their weights load
through `weights.load_robustbench_checkpoint`. DeepMind-style WideResNets (Gowal, Rebuffi, Wang 2023, ...),
transformers and ensembles are not implemented and are refused with a line saying so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compressor.config.schema import ModelSpec
from compressor.errors import UserInputError

CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5070751592371323, 0.48654887331495095, 0.4409178433670343)
CIFAR100_STD = (0.2673342858792401, 0.2564384629170883, 0.27615047132568404)
# RobustBench's PreActResNet(PreActBlock): shortcut from the block input, no BN-ReLU before the classifier
_PREACT_PLAIN = {"shortcut_after_act": False, "final_norm": False}
# Prefixes of entries built on DeepMind's WideResNet / PreActResNet (keys init_conv, logits)
_DEEPMIND = ("Gowal20", "Rebuffi2021", "Rade2021", "Wang2023Better", "Xu2023Exploring", "Pang2022Robustness")


@dataclass(frozen=True)
class ZooEntry:
    """Our architecture for a RobustBench entry: timm name, constructor kwargs, input normalisation if any."""

    arch: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None


def _entries(arch: str, names: str, **extra: Any) -> dict[str, ZooEntry]:
    return {name: ZooEntry(arch, **extra) for name in names.split()}


KNOWN: dict[tuple[str, str], dict[str, ZooEntry]] = {
    ("cifar10", "Linf"): {
        "Andriushchenko2020Understanding": ZooEntry("preact_resnet18", _PREACT_PLAIN),
        "Wong2020Fast": ZooEntry("preact_resnet18", _PREACT_PLAIN, CIFAR10_MEAN, CIFAR10_STD),
        **_entries(
            "wrn_28_10",
            "Carmon2019Unlabeled Sehwag2020Hydra Wang2020Improving Zhang2020Geometry Sridhar2021Robust "
            "Wu2020Adversarial_extra Standard",
        ),
        **_entries(
            "wrn_34_10",
            "Zhang2019Theoretically Huang2020Self Zhang2019You Zhang2020Attacks Sitawarin2020Improving "
            "Cui2020Learnable_34_10 Wu2020Adversarial Sehwag2021Proxy Addepalli2021Towards_WRN34 "
            "Chen2021LTD_WRN34_10 Jia2022LAS-AT_34_10 Addepalli2022Efficient_WRN_34_10 Cui2023Decoupled_WRN-34-10",
        ),
        **_entries(
            "cifar_resnet18", "Sehwag2021Proxy_R18 Addepalli2021Towards_RN18 Addepalli2022Efficient_RN18"
        ),
    },
    ("cifar10", "L2"): {
        **_entries("wrn_28_10", "Standard"),
        **_entries("wrn_34_10", "Wu2020Adversarial Sehwag2021Proxy"),
        **_entries("cifar_resnet18", "Sehwag2021Proxy_R18"),
    },
    ("cifar100", "Linf"): {
        "Rice2020Overfitting": ZooEntry("preact_resnet18", {}, CIFAR100_MEAN, CIFAR100_STD),
        **_entries(
            "wrn_34_10",
            "Cui2020Learnable_34_10_LBGAT0 Cui2020Learnable_34_10_LBGAT6 Sehwag2021Proxy "
            "Sitawarin2020Improving Addepalli2021Towards_WRN34",
        ),
    },
}


def zoo_entry(spec: ModelSpec) -> ZooEntry:
    """The known entry a `source: robustbench` spec names, or a one-line error saying which are known."""
    threat = f"{spec.dataset}/{spec.threat_model}"
    entries = KNOWN.get((str(spec.dataset), spec.threat_model), {})
    if spec.name in entries:
        return entries[spec.name]
    if spec.name.startswith(_DEEPMIND):
        why = (
            "is a DeepMind-style WideResNet/PreActResNet (keys init_conv/logits), which compressor does not "
            "implement"
        )
    else:
        why = "is not one of the entries compressor maps to its own architectures"
    known = ", ".join(sorted(entries)) or "none"
    raise UserInputError(
        f"RobustBench model '{spec.name}' ({threat}) {why}; known {threat} entries: {known} "
        "(README: RobustBench teachers)"
    )


def checkpoint_path(spec: ModelSpec) -> Path:
    """Where RobustBench keeps this model: `checkpoint:` when set, else <model_dir>/<dataset>/<threat>/<name>.pt."""
    if spec.checkpoint is not None:
        return Path(spec.checkpoint).expanduser()
    return Path(spec.model_dir).expanduser() / str(spec.dataset) / spec.threat_model / f"{spec.name}.pt"


def missing_checkpoint(spec: ModelSpec) -> str | None:
    """Why the checkpoint cannot be read here, naming the file to fetch and how (None: it is there)."""
    path = checkpoint_path(spec)
    if path.is_file():
        return None
    fetch = (
        f"python -c \"from robustbench.utils import load_model; load_model('{spec.name}', "
        f"dataset='{spec.dataset}', threat_model='{spec.threat_model}', model_dir='models')\""
    )
    return (
        f"RobustBench checkpoint {path} not found; fetch it where a network exists with `{fetch}` "
        f"(pip install robustbench) and copy the file to {path}"
    )


def as_timm_spec(spec: ModelSpec) -> ModelSpec:
    """The same model as our timm architecture with RobustBench's file as a `robustbench` checkpoint."""
    entry = zoo_entry(spec)
    return spec.model_copy(
        update={
            "source": "timm",
            "name": entry.arch,
            "kwargs": {**entry.kwargs, **spec.kwargs},
            "checkpoint": checkpoint_path(spec),
            "checkpoint_format": "robustbench",
            "mean": spec.mean if spec.mean is not None else (list(entry.mean) if entry.mean else None),
            "std": spec.std if spec.std is not None else (list(entry.std) if entry.std else None),
            "dataset": None,
        }
    )
