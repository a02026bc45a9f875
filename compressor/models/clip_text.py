"""Class names and prompt templates for zero-shot CLIP heads (ImageNet, CIFAR, digits, or a file).

A template is a format string with one ``{}`` for the class name (or a callable, as open_clip ships
the ImageNet ones). ``resolve_templates("default", names)`` picks the set that belongs to a known class
list (the 80 OpenAI prompts for ImageNet, the CLIP CIFAR prompts for CIFAR, six number prompts for
digits) and a single "a photo of a {}." otherwise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from compressor.data.class_names import DIGIT_NAMES
from compressor.errors import UserInputError

Template = str | Callable[[str], str]

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
# fmt: off
CIFAR100_NAMES = [
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle", "bowl",
    "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle", "chair",
    "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur", "dolphin",
    "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard", "lamp",
    "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
    "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck",
    "pine_tree", "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
    "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
    "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television",
    "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf",
    "woman", "worm",
]
# fmt: on

PHOTO_TEMPLATES: tuple[Template, ...] = ("a photo of a {}.",)
RELEASED_TEMPLATES: tuple[Template, ...] = ("This is a photo of a {}",)  # the MMT-ARD / FARE code
NUMBER_TEMPLATES: tuple[Template, ...] = ('a photo of the number: "{}".',)
DIGIT_TEMPLATES: tuple[Template, ...] = NUMBER_TEMPLATES + (
    "a photo of the digit {}.",
    "a handwritten {}.",
    "the number {}.",
    "a blurry photo of the digit {}.",
    "an image of a {}.",
)
CIFAR_TEMPLATES: tuple[Template, ...] = tuple(
    f"a {adj}photo of {art} {size}{{}}."
    for art in ("a", "the")
    for adj, size in [("", ""), ("blurry ", ""), ("black and white ", ""), ("low contrast ", "")]
    + [("high contrast ", ""), ("bad ", ""), ("good ", ""), ("", "small "), ("", "big ")]
)
_WNID = re.compile(r"^n\d{8}$")


def imagenet_names() -> list[str]:
    """The 1000 ImageNet class names, in the order of the sorted WordNet ids (ImageFolder's order)."""
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    return list(IMAGENET_CLASSNAMES)


def _openai_imagenet_templates() -> tuple[Template, ...]:
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

    return tuple(OPENAI_IMAGENET_TEMPLATES)


def class_names_for(dataset: str) -> list[str]:
    """Class names of a dataset this module knows: imagenet, cifar10, cifar100, mnist, digits."""
    known: dict[str, Callable[[], list[str]]] = {
        "imagenet": imagenet_names,
        "cifar10": lambda: list(CIFAR10_NAMES),
        "cifar100": lambda: list(CIFAR100_NAMES),
        "mnist": lambda: list(DIGIT_NAMES),
        "digits": lambda: list(DIGIT_NAMES),
    }
    if dataset not in known:
        raise UserInputError(f"no built-in class names for '{dataset}'; known: {', '.join(known)}")
    return known[dataset]()


def read_names(path: str | Path) -> list[str]:
    """Names from a file: a JSON list, or plain text with one name per line (blank lines skipped)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise UserInputError(f"names file '{file}' not found")
    text = file.read_text(encoding="utf-8")
    if file.suffix == ".json":
        names = json.loads(text)
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise UserInputError(f"'{file}': expected a JSON list of strings")
        return names
    return [line.strip() for line in text.splitlines() if line.strip()]


def prompt_names(class_names: Sequence[str]) -> list[str]:
    """Names as they go into prompts: ImageNet WordNet ids become words, underscores become spaces."""
    names = list(class_names)
    if len(names) == 1000 and all(_WNID.match(n) for n in names) and names == sorted(names):
        names = imagenet_names()
    return [n.replace("_", " ") for n in names]


def resolve_templates(spec: str, class_names: Sequence[str]) -> tuple[Template, ...]:
    """Templates named by a recipe: default, openai, photo, released, cifar, number, digits, or a file path."""
    named: dict[str, Callable[[], tuple[Template, ...]]] = {
        "openai": _openai_imagenet_templates,
        "photo": lambda: PHOTO_TEMPLATES,
        "released": lambda: RELEASED_TEMPLATES,
        "cifar": lambda: CIFAR_TEMPLATES,
        "number": lambda: NUMBER_TEMPLATES,
        "digits": lambda: DIGIT_TEMPLATES,
    }
    if spec == "default":
        return named[_default_set(prompt_names(class_names))]()
    if spec in named:
        return named[spec]()
    if Path(spec).expanduser().is_file():
        templates = read_names(spec)
        bad = [t for t in templates if t.count("{}") != 1]
        if bad or not templates:
            raise UserInputError(f"templates file '{spec}': each line needs exactly one '{{}}' ({bad[:1]})")
        return tuple(templates)
    raise UserInputError(f"templates '{spec}': expected one of default, {', '.join(named)}, or a file path")


def _default_set(names: list[str]) -> str:
    if names == prompt_names(imagenet_names()):
        return "openai"
    if names in (CIFAR10_NAMES, prompt_names(CIFAR100_NAMES)):
        return "cifar"
    if names == DIGIT_NAMES:
        return "digits"
    return "photo"
