"""The shared shape of the torchvision data sets (MNIST, Fashion-MNIST, CIFAR): files under data.root."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from compressor.data.registry import DataSet

if TYPE_CHECKING:
    from compressor.config.schema import DataConfig


class TorchvisionSet(DataSet):
    """A torchvision data set class (`torchvision_class`) loaded whole as uint8 tensors."""

    torchvision_class: ClassVar[str]
    needs_root = True

    def load(self, cfg: DataConfig, seed: int) -> Any:
        from compressor.data.bundle import from_tensors
        from compressor.data.sources import torchvision_tensors

        train, test, names = torchvision_tensors(cfg, self.torchvision_class)
        return from_tensors(cfg, train, test, self.class_names(names))

    def class_names(self, found: list[str]) -> list[str]:
        """The class names to use, given torchvision's."""
        return found
