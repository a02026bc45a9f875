"""Data sources, the validation split carved from train, device batches and augmentation."""

from __future__ import annotations

import pytest
import torch

from compressor.config.schema import DataConfig
from compressor.data.batches import Shard, TensorBatches, random_crop_flip
from compressor.data.loading import load_data, train_batches
from compressor.data.sources import Split
from compressor.errors import UserInputError
from tests.conftest import SHARED_DATA


def test_digits_splits_are_disjoint_and_in_range() -> None:
    data = load_data(DataConfig(dataset="digits", val_fraction=0.1))
    assert (data.in_chans, data.image_size, data.num_classes) == (1, 8, 10)
    assert len(data.train) + len(data.val) + len(data.test) == 1797
    assert float(data.train.x.min()) >= 0.0 and float(data.train.x.max()) <= 1.0
    rows = {tuple(r.tolist()) for r in data.test.x.flatten(1)}
    overlap = sum(tuple(r.tolist()) in rows for r in data.val.x.flatten(1))
    assert overlap <= 2  # digits has a few duplicate images; splits are index-disjoint


@pytest.mark.skipif(not (SHARED_DATA / "MNIST").is_dir(), reason="../shared/data/MNIST not present")
def test_mnist_from_shared_folder() -> None:
    data = load_data(DataConfig(dataset="mnist", root=SHARED_DATA, val_fraction=0.1))
    assert (len(data.train), len(data.val), len(data.test)) == (54000, 6000, 10000)
    assert data.train.x.dtype == torch.uint8 and data.image_size == 28


def test_missing_dataset_names_the_folder(tmp_path) -> None:
    with pytest.raises(UserInputError, match=str(tmp_path)):
        load_data(DataConfig(dataset="cifar10", root=tmp_path))


def test_synthetic_is_learnable_shape() -> None:
    cfg = DataConfig(dataset="synthetic", synthetic={"num_classes": 4, "image_size": 16, "channels": 3})
    data = load_data(cfg)
    assert data.train.x.shape[1:] == (3, 16, 16) and data.num_classes == 4


def test_batches_cover_the_split_once_per_epoch_and_shard_disjointly() -> None:
    split = Split(torch.arange(100, dtype=torch.float32).view(100, 1, 1, 1), torch.arange(100))
    batches = TensorBatches(split, 16, device=torch.device("cpu"), shuffle=True, seed=3)
    seen = torch.cat([y for _, y in batches])
    assert sorted(seen.tolist()) == list(range(100))
    shards = [
        TensorBatches(split, 16, device=torch.device("cpu"), shuffle=True, seed=3, shard=Shard(r, 2))
        for r in range(2)
    ]
    a, b = (set(torch.cat([y for _, y in s]).tolist()) for s in shards)
    assert not a & b and len(a) == len(b) == 50
    batches.set_epoch(1)
    assert torch.cat([y for _, y in batches]).tolist() != seen.tolist()


def test_crop_flip_keeps_shape_and_moves_pixels() -> None:
    x = torch.rand(8, 3, 16, 16)
    out = random_crop_flip(x, torch.Generator().manual_seed(0), pad=2, flip=True)
    assert out.shape == x.shape and not torch.equal(out, x)


def test_train_batches_are_float_on_device() -> None:
    cfg = DataConfig(dataset="digits", batch_size=32, augment="crop")
    data = load_data(cfg)
    x, y = next(iter(train_batches(data, cfg, device=torch.device("cpu"), seed=0)))
    assert x.dtype == torch.float32 and x.shape == (32, 1, 8, 8) and y.shape == (32,)
