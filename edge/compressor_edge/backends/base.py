"""The interface every runtime backend implements: float32 [B,C,H,W] images in, float32 logits out."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class Backend(ABC):
    """One loaded model on one runtime; `run` takes a batch no larger than `max_batch` (None: any)."""

    name: str = ""
    max_batch: int | None = None

    @abstractmethod
    def run(self, images: np.ndarray) -> np.ndarray:
        """Logits [B, K] for float32 images [B, C, H, W] in [0, 1]."""

    def describe(self) -> str:
        """The runtime and device in words, for reports."""
        return self.name

    @abstractmethod
    def close(self) -> None:
        """Release device memory and sessions (idempotent)."""

    def predict(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Logits for any number of images, run in chunks the backend accepts."""
        images = np.ascontiguousarray(images, dtype=np.float32)
        step = batch_size if self.max_batch is None else min(batch_size, self.max_batch)
        chunks = [self.run(images[i : i + step]) for i in range(0, images.shape[0], step)]
        return np.concatenate(chunks, axis=0).astype(np.float32, copy=False)

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
