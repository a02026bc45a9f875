"""Your own images: root/train/<class>/* and root/val (or test)/<class>/*, at their own size and channels.

Size and channels come from the images unless the recipe sets `data.image_size` / `data.channels`: grey
images stay one channel, images already at the size are neither resized nor cropped. The test split's labels
are train's class indices, matched by class name.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from compressor.data.folder_survey import FolderSurvey, missing_split, survey_folder
from compressor.data.registry import DataSet, register_dataset
from compressor.data.transforms import describe_transform
from compressor.errors import UserInputError

if TYPE_CHECKING:
    from compressor.config.schema import DataConfig


def _class_problem(survey: FolderSurvey) -> str | None:
    extra, missing = survey.missing_classes()
    split = f"{survey.test.name}/"
    parts = [f"{split} has classes train/ lacks ({', '.join(extra)})"] if extra else []
    parts += [f"{split} lacks train's classes ({', '.join(missing)})"] if missing else []
    return " and ".join(parts) if parts else None


def _auto_transform(survey: FolderSurvey, size: int) -> str:
    if survey.all_at(size):
        return "none"
    square = all(w == h for w, h in survey.train.sizes | survey.test.sizes)
    return "resize" if square else "resize_center_crop"


def resolved(cfg: DataConfig, survey: FolderSurvey, where: str) -> DataConfig:
    """`cfg` with size, channels and evaluation transform taken from the images where the recipe left them."""
    size = cfg.image_size or survey.native_size()
    if size is None:
        sizes = ", ".join(f"{w}x{h}" for w, h in sorted(survey.train.sizes)[:4])
        raise UserInputError(
            f"{where}.image_size: the train images are not all one square size ({sizes}, ...); "
            f"set {where}.image_size to the side the models should see"
        )
    transform = cfg.eval_transform if cfg.eval_transform != "auto" else _auto_transform(survey, size)
    if transform == "none" and not survey.all_at(size):
        raise UserInputError(
            f"{where}.eval_transform: none, but not every image is {size}x{size}; "
            f"use resize or resize_center_crop (or auto)"
        )
    problem = _class_problem(survey)
    if problem and not cfg.allow_missing_classes:
        raise UserInputError(
            f"{where}.root: {problem}; labels follow train/'s class names, so fix the folders or set "
            f"{where}.allow_missing_classes: true to map them by name (images of unknown classes left out)"
        )
    if cfg.class_names and len(cfg.class_names) != len(survey.train.classes):
        raise UserInputError(
            f"{where}.class_names: {len(cfg.class_names)} names for the {len(survey.train.classes)} "
            "class folders of train/"
        )
    channels = cfg.channels or (1 if survey.train.grey else 3)
    return cfg.model_copy(update={"image_size": size, "channels": channels, "eval_transform": transform})


def _survey(cfg: DataConfig, where: str) -> FolderSurvey:
    return survey_folder(Path(str(cfg.root)), where)


def _findings(survey: FolderSurvey, done: DataConfig, where: str) -> list[str]:
    """What was found, one line per split, then what the models see (and a class-mapping warning)."""
    size, channels = int(done.image_size or 0), int(done.channels or 0)
    lines = [survey.train.line(), survey.test.line()]
    lines.append(
        f"models see {size}x{size}, {channels} channel{'s' * (channels != 1)}; "
        f"evaluation transform: {describe_transform(done.eval_transform, size)}"
    )
    problem = _class_problem(survey)
    if problem:
        lines.append(f"warning: {problem}; mapped by class name ({where}.allow_missing_classes)")
    return lines


@register_dataset
class ImageFolder(DataSet):
    name = "imagefolder"
    description = "your own images: root/train/<class>/*, root/val (or test)/<class>/*, native size"
    needs_root = True
    smoke_on_own_files = True

    def classes(self, cfg: DataConfig) -> int | None:
        if cfg.class_names:
            return len(cfg.class_names)
        train = Path(str(cfg.root)).expanduser() / "train"
        return sum(1 for p in train.iterdir() if p.is_dir()) if train.is_dir() else None

    def geometry(self, cfg: DataConfig) -> tuple[int | None, int | None]:
        return cfg.channels, cfg.image_size  # what the images say is filled in by `resolve`

    def problem(self, cfg: DataConfig, where: str) -> str | None:
        return missing_split(Path(str(cfg.root)), where)

    def findings(self, cfg: DataConfig, where: str = "data") -> list[str]:
        survey = _survey(cfg, where)
        return _findings(survey, resolved(cfg, survey, where), where)

    def resolve(self, cfg: DataConfig, where: str = "data") -> DataConfig:
        return resolved(cfg, _survey(cfg, where), where)

    def load(self, cfg: DataConfig, seed: int) -> Any:
        from compressor.data.folder import load_image_folder

        survey = _survey(cfg, "data")
        done = resolved(cfg, survey, "data")
        return load_image_folder(done, survey, _findings(survey, done, "data"))
