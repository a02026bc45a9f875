"""Reading images for predict: PNG/JPEG resized to the input, .npy arrays checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from compressor_edge import BundleError
from compressor_edge.images import load_images


def test_png_is_resized_scaled_and_channel_first(tmp_path: Path) -> None:
    pixels = np.zeros((16, 20, 3), dtype=np.uint8)
    pixels[..., 0] = 255
    Image.fromarray(pixels).save(tmp_path / "red.png")
    Image.fromarray(pixels[..., 1]).save(tmp_path / "grey.jpg")
    images, names = load_images([tmp_path / "red.png", tmp_path / "grey.jpg"], (3, 8, 8))
    assert images.shape == (2, 3, 8, 8) and images.dtype == np.float32
    assert np.allclose(images[0, 0], 1.0) and np.allclose(images[0, 1:], 0.0)
    assert names == [str(tmp_path / "red.png"), str(tmp_path / "grey.jpg")]


def test_npy_batches_and_checks(tmp_path: Path) -> None:
    np.save(tmp_path / "ok.npy", np.full((2, 1, 4, 4), 0.5, dtype=np.float32))
    np.save(tmp_path / "range.npy", np.full((1, 4, 4), 255.0, dtype=np.float32))
    np.save(tmp_path / "shape.npy", np.zeros((1, 3, 4, 4), dtype=np.float32))
    images, names = load_images([tmp_path / "ok.npy"], (1, 4, 4))
    assert images.shape == (2, 1, 4, 4) and names[1].endswith("ok.npy[1]")
    with pytest.raises(BundleError, match=r"in \[0, 1\]"):
        load_images([tmp_path / "range.npy"], (1, 4, 4))
    with pytest.raises(BundleError, match="array shape"):
        load_images([tmp_path / "shape.npy"], (1, 4, 4))


def test_bad_paths(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "b.png").write_bytes(b"not a png")
    with pytest.raises(BundleError, match="no such file"):
        load_images([tmp_path / "missing.png"], (3, 8, 8))
    with pytest.raises(BundleError, match="unsupported file type"):
        load_images([tmp_path / "a.txt"], (3, 8, 8))
    with pytest.raises(BundleError, match="unreadable image"):
        load_images([tmp_path / "b.png"], (3, 8, 8))
