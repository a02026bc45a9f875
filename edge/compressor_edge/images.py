"""Read images for `predict`: PNG/JPEG via Pillow (resized to the model's input), or .npy arrays."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from compressor_edge.errors import BundleError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MAX_PIXELS = 50_000_000  # a picture's width x height, read from its header before decoding (8K is 33 MP)
MAX_NPY_BYTES = 1 << 30  # one .npy file's array, read from its header before loading


def _from_npy(path: Path, shape: tuple[int, int, int]) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False, mmap_mode="r")  # the header only; data is read below
    except (OSError, ValueError) as err:
        raise BundleError(f"{path}: unreadable .npy file ({err})") from None
    if not isinstance(array, np.ndarray):
        raise BundleError(f"{path}: expected one array (.npy), not an archive")
    if array.nbytes > MAX_NPY_BYTES:
        raise BundleError(
            f"{path}: {array.nbytes} bytes of data is more than predict reads ({MAX_NPY_BYTES})"
        )
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or tuple(array.shape[1:]) != shape:
        raise BundleError(
            f"{path}: array shape {array.shape}, expected [N,{shape[0]},{shape[1]},{shape[2]}] or [C,H,W]"
        )
    try:
        array = np.array(array, dtype=np.float32)
    except (OSError, ValueError, TypeError) as err:  # truncated data, or a dtype that is not numeric
        raise BundleError(f"{path}: unreadable .npy data ({err})") from None
    if not np.isfinite(array).all() or array.min() < 0.0 or array.max() > 1.0:
        raise BundleError(f"{path}: values must be finite and in [0, 1] (pixels / 255)")
    return array


def _from_picture(path: Path, shape: tuple[int, int, int]) -> np.ndarray:
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise BundleError("reading PNG/JPEG needs Pillow: pip install pillow") from None
    channels, height, width = shape
    if channels not in (1, 3):
        raise BundleError(f"{path}: the model takes {channels} channels; give a .npy array instead")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(path)  # reads the header only
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise BundleError(_too_large(path, f"over {(Image.MAX_IMAGE_PIXELS or 0) / 1e6:.0f} MP")) from None
    except (OSError, UnidentifiedImageError) as err:
        raise BundleError(f"{path}: unreadable image ({err})") from None
    with opened:
        if opened.width * opened.height > MAX_PIXELS:
            raise BundleError(_too_large(path, f"{opened.width}x{opened.height}"))
        try:
            picture = opened.convert("L" if channels == 1 else "RGB")
        except OSError as err:  # truncated or corrupt data after a valid header
            raise BundleError(f"{path}: unreadable image ({err})") from None
    if picture.size != (width, height):
        picture = picture.resize((width, height), Image.Resampling.BILINEAR)
    array = np.asarray(picture, dtype=np.float32) / 255.0
    array = array[None] if channels == 1 else array.transpose(2, 0, 1)
    return array[None]


def _too_large(path: Path, size: str) -> str:
    """The error line for a picture whose header declares more pixels than predict decodes."""
    return (
        f"{path}: image too large ({size}; predict decodes at most {MAX_PIXELS / 1e6:g} megapixels); "
        "downscale it first (the model sees it resized to its input anyway)"
    )


def load_images(paths: Sequence[str | Path], shape: tuple[int, int, int]) -> tuple[np.ndarray, list[str]]:
    """Images as float32 [N, C, H, W] in [0, 1] and one name per image (file, or file[i] for arrays)."""
    batches, names = [], []
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            raise BundleError(f"{path}: no such file")
        suffix = path.suffix.lower()
        if suffix == ".npy":
            array = _from_npy(path, shape)
        elif suffix in IMAGE_SUFFIXES:
            array = _from_picture(path, shape)
        else:
            raise BundleError(f"{path}: unsupported file type (expected .png, .jpg, .jpeg or .npy)")
        batches.append(array)
        names += [str(path)] if array.shape[0] == 1 else [f"{path}[{i}]" for i in range(array.shape[0])]
    if not batches:
        raise BundleError("no images given")
    return np.concatenate(batches, axis=0), names
