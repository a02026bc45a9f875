"""How an ImageFolder's test images reach the models' size, in numbers and in words (torch-free)."""

from __future__ import annotations

IMAGENET_CROP = 224 / 256  # resize_center_crop: the short side to size / 0.875, then the centre size x size


def describe_transform(transform: str, size: int) -> str:
    """The evaluation transform in words, for `validate`, the run's data record and the report."""
    if transform == "none":
        return f"none (images already {size}x{size})"
    if transform == "resize":
        return f"resize to {size}x{size}"
    return f"resize the short side to {round(size / IMAGENET_CROP)}, centre crop {size}x{size}"
