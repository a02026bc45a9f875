"""What an ImageFolder tree holds, found without torch: classes, image counts, sizes and channels per split.

A sample of each split's images is opened (headers only, with PIL) to find their sizes and colour modes, so
`validate` stays fast on large trees; the recipe's `data.image_size` / `data.channels` win over what is found.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from compressor.errors import UserInputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")  # torchvision's
GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"})
SAMPLE = 64  # images opened per split


@dataclass(frozen=True)
class SplitSurvey:
    """One split (train/, val/ or test/): its classes, image count and the sampled sizes and modes."""

    name: str
    classes: tuple[str, ...]
    images: int
    sizes: frozenset[tuple[int, int]]  # (width, height) of the sampled images
    grey: bool  # every sampled image is single-channel

    def line(self) -> str:
        """One line for `validate`: classes, images, size, channels."""
        sizes = sorted(self.sizes)
        size = (
            f"{sizes[0][0]}x{sizes[0][1]}" if len(sizes) == 1 else f"mixed sizes ({len(sizes)} in the sample)"
        )
        channels = "1 channel (grey)" if self.grey else "3 channels (colour)"
        return f"{self.name}/: {len(self.classes)} classes, {self.images} images, {size}, {channels}"


@dataclass(frozen=True)
class FolderSurvey:
    """The train split and the test split (val/ when present, else test/) of an ImageFolder root."""

    root: Path
    train: SplitSurvey
    test: SplitSurvey

    def native_size(self) -> int | None:
        """The side of the train images when they are all square and of one size, else None."""
        if len(self.train.sizes) != 1:
            return None
        width, height = next(iter(self.train.sizes))
        return width if width == height else None

    def all_at(self, size: int) -> bool:
        """Whether every sampled image of both splits is size x size."""
        return self.train.sizes | self.test.sizes == {(size, size)}

    def missing_classes(self) -> tuple[list[str], list[str]]:
        """(classes the test split has and train/ lacks, train's classes the test split lacks)."""
        train, test = set(self.train.classes), set(self.test.classes)
        return sorted(test - train), sorted(train - test)


def _image_files(folder: Path) -> list[Path]:
    found = []
    for parent, _, files in os.walk(folder, followlinks=True):
        found += [Path(parent) / f for f in files if f.lower().endswith(IMAGE_SUFFIXES)]
    return sorted(found)


def _survey_split(folder: Path, where: str) -> SplitSurvey:
    from PIL import Image, UnidentifiedImageError

    classes = tuple(sorted(e.name for e in os.scandir(folder) if e.is_dir()))
    if not classes:
        raise UserInputError(
            f"{where}.root: '{folder}' has no class folders (ImageFolder: {folder}/<class>/*.png)"
        )
    files = [f for c in classes for f in _image_files(folder / c)]
    if not files:
        raise UserInputError(f"{where}.root: '{folder}' holds no images ({', '.join(IMAGE_SUFFIXES)})")
    step = max(1, len(files) // SAMPLE)
    sizes, modes = set(), set()
    for path in files[::step][:SAMPLE]:
        try:
            with Image.open(path) as image:
                sizes.add(image.size)
                modes.add(image.mode)
        except (OSError, UnidentifiedImageError):
            raise UserInputError(
                f"{where}.root: '{path}' is not a readable image; remove or replace it"
            ) from None
    return SplitSurvey(folder.name, classes, len(files), frozenset(sizes), modes <= GREY_MODES)


def missing_split(root: Path, where: str = "data") -> str | None:
    """Why `root` is not an ImageFolder root (no train/, or neither val/ nor test/), or None."""
    root = root.expanduser()
    if not (root / "train").is_dir():
        return f"{where}.root: '{root}' has no train/ folder (an ImageFolder root holds train/ and val/ or test/)"
    if not ((root / "val").is_dir() or (root / "test").is_dir()):
        return f"{where}.root: '{root}' has no val/ or test/ folder for the test split"
    return None


def survey_folder(root: Path, where: str = "data") -> FolderSurvey:
    """Survey root/train and root/val (or root/test); a missing split is a one-line UserInputError."""
    root = root.expanduser()
    problem = missing_split(root, where)
    if problem:
        raise UserInputError(problem)
    test = root / "val" if (root / "val").is_dir() else root / "test"
    return FolderSurvey(root, _survey_split(root / "train", where), _survey_split(test, where))
