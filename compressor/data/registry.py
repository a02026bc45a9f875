"""The data-set registry, torch-free: each data set's facts beside its loader, like methods and attacks.

A data set joins with a decorator on a `DataSet` subclass, in its own module:

    @register_dataset
    class MyScans(DataSet):
        name = "my_scans"
        description = "grey 64x64 scans, 4 classes"
        num_classes, channels, image_size, needs_root = 4, 1, 64, True

        def load(self, cfg, seed):                    # torch lives here only, imported inside
            from compressor.data.bundle import from_tensors
            ...
            return from_tensors(cfg, train, test, class_names)

The recipe schema (`data.dataset`), `validate`, smoke mode and loading read the facts from here. The
built-ins live in `compressor.data.sets.<module>` and register on first lookup; a user's own module joins
by being named in a recipe's `plugins:` list.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from compressor.errors import UserInputError

if TYPE_CHECKING:
    from compressor.config.schema import DataConfig, Recipe

D = TypeVar("D", bound=type["DataSet"])


class DataSet:
    """A data set: class attributes are its facts (None: decided by the recipe or found in the files)."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    num_classes: ClassVar[int | None] = None
    channels: ClassVar[int | None] = None
    image_size: ClassVar[int | None] = None  # native size (square)
    needs_root: ClassVar[bool] = False  # data.root names the folder holding it
    smoke_on_own_files: ClassVar[bool] = False  # `--smoke` runs on a few of these files, not synthetic data

    def classes(self, cfg: DataConfig) -> int | None:
        """How many classes this recipe's data has, when that is known before loading it."""
        return len(cfg.class_names) if cfg.class_names else self.num_classes

    def geometry(self, cfg: DataConfig) -> tuple[int | None, int | None]:
        """(channels, size) of the images the models see: the recipe's choice, else the native ones."""
        return cfg.channels or self.channels, cfg.image_size or self.image_size

    def problem(self, cfg: DataConfig, where: str) -> str | None:
        """Why this machine cannot load the data (None when it can, or will download it)."""
        if cfg.root is None:
            return None
        root = Path(str(cfg.root)).expanduser()
        if not root.is_dir() and not cfg.download:
            return f"{where}.root: '{root}' is not a folder on this machine; fix it or set {where}.download: true"
        return None

    def findings(self, cfg: DataConfig, where: str = "data") -> list[str]:
        """What `validate` reports about the data, one line per split (raise UserInputError for bad data)."""
        (channels, size), classes = self.geometry(cfg), self.classes(cfg)
        facts = [
            f"{classes} classes" if classes else None,
            f"{size}x{size}" if size else None,
            f"{channels} channel{'s' * (channels != 1)}" if channels else None,
        ]
        return [f"{self.name}: " + ", ".join(f for f in facts if f)]

    def resolve(self, cfg: DataConfig, where: str = "data") -> DataConfig:
        """The data section with what the files say filled in (for the run's resolved recipe)."""
        return cfg

    def load(self, cfg: DataConfig, seed: int) -> Any:
        """The `compressor.data.bundle.DataBundle` for this recipe (torch: import it inside)."""
        raise NotImplementedError(f"data set '{self.name}' has no loader")


_REGISTRY: dict[str, DataSet] = {}


def register_dataset(cls: D) -> D:
    """Class decorator on a `DataSet` subclass: register it under `cls.name` (lower case, unique)."""
    name = getattr(cls, "name", "")
    if not name or name != name.lower() or name in _REGISTRY:
        raise ValueError(f"data set name {name!r} is empty, not lower case or already registered")
    _REGISTRY[name] = cls()
    return cls


def dataset_names() -> list[str]:
    """Every registered data set, in registration order (built-ins first)."""
    _builtin_sets()
    return list(_REGISTRY)


def get_dataset(name: str) -> DataSet:
    """The data set called `name`; an unknown name is a one-line UserInputError with a suggestion."""
    _builtin_sets()
    if name in _REGISTRY:
        return _REGISTRY[name]
    close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
    hint = f"did you mean '{close[0]}'?" if close else "a plugin module can register another"
    raise UserInputError(f"unknown data set '{name}': use one of {', '.join(_REGISTRY)}; {hint}")


def _builtin_sets() -> None:
    package = importlib.import_module("compressor.data.sets")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"compressor.data.sets.{module.name}")


def with_resolved_data(recipe: Recipe) -> Recipe:
    """The recipe with what the data files on this machine say filled in (ImageFolder size, channels, transform).

    Data not on this machine stays as written: commands that never load it (verify, report) still run.
    """

    def resolve(cfg: DataConfig, where: str) -> DataConfig:
        dataset = get_dataset(cfg.dataset)
        return cfg if dataset.problem(cfg, where) else dataset.resolve(cfg, where)

    zero_shot = [resolve(z, f"evaluate.zero_shot.{i}") for i, z in enumerate(recipe.evaluate.zero_shot)]
    evaluate = recipe.evaluate.model_copy(update={"zero_shot": zero_shot})
    return recipe.model_copy(update={"data": resolve(recipe.data, "data"), "evaluate": evaluate})
