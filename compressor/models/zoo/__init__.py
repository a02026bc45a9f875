"""Small-input architectures of the robust-distillation literature, registered in timm's model registry.

Importing this package is enough: `timm.create_model("cifar_resnet18", num_classes=10)` then works, and each
model carries a `pretrained_cfg` with the input size and normalisation it expects. No weights are shipped.
Adding an architecture is one module here: its `default_cfgs` (config as data, `zoo_cfg`), a
`@register_model` entry point per name and, when a training step takes well under a second on a CPU,
`SMOKE_MODELS` (smoke mode keeps those, replaces the rest by tiny_cnn); every module here is imported.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

_CFGS: dict[str, dict[str, Any]] = {}
_SMOKE: set[str] = set()
for _info in pkgutil.iter_modules(__path__):
    if not _info.name.startswith("_"):
        _module = importlib.import_module(f"{__name__}.{_info.name}")
        _CFGS.update(_module.default_cfgs)
        _SMOKE.update(getattr(_module, "SMOKE_MODELS", ()))

ZOO_MODELS = tuple(sorted(_CFGS))  # every architecture of the zoo, by timm name
SMOKE_MODELS = frozenset(_SMOKE)  # small enough for smoke mode
