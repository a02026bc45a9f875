"""ImageFolder data for training: validation carved (seeded) from train/, test from val/ or test/.

Takes a data section already resolved against the images (`compressor.data.sets.imagefolder.resolved`):
size, channels and the evaluation transform are set. The test split's labels are train's indices, matched
by class name, so a split that lacks a class never shifts the others.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compressor.data.bundle import DataBundle, seeded_order
from compressor.data.folder_survey import FolderSurvey
from compressor.data.transforms import IMAGENET_CROP, describe_transform
from compressor.errors import UserInputError

if TYPE_CHECKING:
    from compressor.config.schema import DataConfig

_VAL_IMAGES = 1000  # validation images held in memory (model selection uses 512)
_TEST_IMAGES = 1000  # test images held in memory unless data.limit_test says otherwise


def open_image(path: str, mode: str, exact_size: int | None) -> Any:
    """The image at `path` in PIL `mode` ("L" or "RGB"); with `exact_size`, another size is an error."""
    from PIL import Image

    with open(path, "rb") as file:
        image = Image.open(file)
        if exact_size is not None and image.size != (exact_size, exact_size):
            raise UserInputError(
                f"data: '{path}' is {image.size[0]}x{image.size[1]}, not {exact_size}x{exact_size} "
                "(data.eval_transform: none); set data.eval_transform: resize"
            )
        return image.convert(mode)


def _geometry(transform: str, size: int) -> list[Any]:
    import torchvision.transforms as T

    if transform == "resize":
        return [T.Resize((size, size))]
    if transform == "resize_center_crop":
        return [T.Resize(round(size / IMAGENET_CROP)), T.CenterCrop(size)]
    return []


def _train_steps(cfg: DataConfig, size: int) -> list[Any]:
    """Training geometry and augmentation: pad-and-crop like the tensor data sets, random-resized crops for photos."""
    import torchvision.transforms as T

    if cfg.augment == "none":
        return _geometry(cfg.eval_transform, size)
    flip = [T.RandomHorizontalFlip()] if cfg.augment == "crop_flip" else []
    if cfg.eval_transform == "resize_center_crop":
        return [T.RandomResizedCrop(size, scale=(0.35, 1.0)), *flip]
    return [*_geometry(cfg.eval_transform, size), T.RandomCrop(size, padding=max(1, size // 8)), *flip]


def _dataset(cfg: DataConfig, split: str, train_classes: tuple[str, ...], *, train: bool) -> Any:
    """The split as a torchvision ImageFolder whose labels are indices into train's classes."""
    import torchvision.transforms as T
    from torchvision.datasets import ImageFolder

    size = int(cfg.image_size or 0)
    steps = _train_steps(cfg, size) if train else _geometry(cfg.eval_transform, size)
    exact = size if cfg.eval_transform == "none" else None
    loader = partial(open_image, mode="L" if cfg.channels == 1 else "RGB", exact_size=exact)
    root = Path(str(cfg.root)).expanduser() / split
    folder = ImageFolder(str(root), transform=T.Compose([*steps, T.ToTensor()]), loader=loader)
    index = {name: i for i, name in enumerate(train_classes)}
    folder.samples = [(p, index[folder.classes[t]]) for p, t in folder.samples if folder.classes[t] in index]
    folder.imgs, folder.targets = folder.samples, [t for _, t in folder.samples]
    folder.classes, folder.class_to_idx = list(train_classes), index
    return folder


def _stack(dataset: Any, limit: int) -> Any:
    import torch

    from compressor.data.sources import Split

    order = seeded_order(len(dataset))[: min(limit, len(dataset))]
    items = [dataset[int(i)] for i in order]
    return Split(torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items]))


def load_image_folder(cfg: DataConfig, survey: FolderSurvey, findings: list[str]) -> DataBundle:
    """Train as a Dataset (augmented), validation and test as in-memory tensors at the resolved geometry."""
    from torch.utils.data import Subset

    classes = survey.train.classes
    train = _dataset(cfg, "train", classes, train=True)
    order = seeded_order(len(train))
    if cfg.limit_train is not None:
        order = order[: cfg.limit_train]
    n_val = max(1, int(round(len(order) * cfg.val_fraction)))
    if n_val >= len(order):
        raise UserInputError(
            f"data: {len(order)} training images leave none to train on after data.val_fraction {cfg.val_fraction}"
        )
    plain = _dataset(cfg, "train", classes, train=False)  # validation images without augmentation
    val = _stack(Subset(plain, order[:n_val].tolist()), _VAL_IMAGES)
    test = _stack(_dataset(cfg, survey.test.name, classes, train=False), cfg.limit_test or _TEST_IMAGES)
    size, channels = int(cfg.image_size or 0), int(cfg.channels or 0)
    record = {"splits": findings, "eval_transform": describe_transform(cfg.eval_transform, size)}
    return DataBundle(
        None,
        val,
        test,
        cfg.class_names or list(classes),
        channels,
        size,
        folder_train=Subset(train, order[n_val:].tolist()),
        record=record,
    )
