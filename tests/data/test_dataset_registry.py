"""The data-set registry: built-ins, torch-free facts, a plugin's own data set, Fashion-MNIST from disk."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from compressor.cli.main import app
from compressor.config.schema import DataConfig
from compressor.data import registry
from compressor.data.loading import load_data
from tests.conftest import SHARED_DATA

PLUGIN = """
from compressor.data.registry import DataSet, register_dataset


@register_dataset
class Stripes(DataSet):
    name = "stripes"
    description = "vertical or horizontal stripes, 2 classes, grey 12x12"
    num_classes, channels, image_size = 2, 1, 12

    def load(self, cfg, seed):
        import torch

        from compressor.data.bundle import from_tensors
        from compressor.data.sources import Split

        def split(n):
            y = torch.arange(n) % 2
            lines = (torch.arange(12) % 2).float().view(1, 1, 12, 1).expand(n, 1, 12, 12)
            x = torch.where(y.view(n, 1, 1, 1) == 1, lines, lines.transpose(2, 3))
            return Split(x.contiguous(), y)

        return from_tensors(cfg, split(200), split(40), ["vertical", "horizontal"])
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The plugin module on sys.path; unregistered afterwards."""
    folder = tmp_path / "plugin_src"
    folder.mkdir()
    (folder / "my_data_plugin.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(folder))
    yield "my_data_plugin"
    registry._REGISTRY.pop("stripes", None)
    sys.modules.pop("my_data_plugin", None)


def test_builtins_are_registered_with_their_facts() -> None:
    assert {"digits", "mnist", "fashion_mnist", "cifar10", "cifar100", "imagefolder", "synthetic"} <= set(
        registry.dataset_names()
    )
    fashion = registry.get_dataset("fashion_mnist")
    assert (fashion.num_classes, fashion.channels, fashion.image_size, fashion.needs_root) == (
        10,
        1,
        28,
        True,
    )
    assert registry.get_dataset("cifar100").num_classes == 100


def test_the_facts_import_without_torch() -> None:
    code = (
        "import sys; from compressor.data.registry import dataset_names, get_dataset; "
        "import compressor.config.schema; names = dataset_names(); "
        "assert get_dataset('imagefolder').needs_root; print('torch' in sys.modules, len(names))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split()[0] == "False"


def test_an_unknown_data_set_is_one_line_with_a_suggestion(tiny_recipe) -> None:
    result = CliRunner().invoke(app, ["validate", str(tiny_recipe()), "data.dataset=fashon_mnist"])
    assert result.exit_code == 2 and "did you mean 'fashion_mnist'" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_plugin_data_set_validates_and_trains(plugin: str, tiny_recipe, tmp_path: Path) -> None:
    recipe = tiny_recipe(plugins=[plugin], data={"dataset": "stripes", "batch_size": 32})
    refused = CliRunner().invoke(app, ["validate", str(recipe)])
    assert refused.exit_code == 2 and plugin in refused.output, "a plugin data set needs consent too"
    result = CliRunner().invoke(app, ["validate", str(recipe), "--allow-plugins", plugin])
    assert result.exit_code == 0, result.output
    assert "data: stripes: 2 classes, 12x12, 1 channel" in result.output
    result = CliRunner().invoke(
        app,
        ["distill", str(recipe), "train.epochs=1", "--stages", "teachers,distill", "--allow-plugins", plugin],
    )
    assert result.exit_code == 0, result.output
    info = json.loads((tmp_path / "runs" / "tiny" / "data.json").read_text())
    assert info["dataset"] == "stripes" and info["class_names"] == ["vertical", "horizontal"]
    assert (info["in_chans"], info["image_size"]) == (1, 12)


@pytest.mark.skipif(
    not (SHARED_DATA / "FashionMNIST").is_dir(),
    reason=f"{SHARED_DATA}/FashionMNIST (torchvision files) not present",
)
def test_fashion_mnist_from_shared_folder() -> None:
    data = load_data(DataConfig(dataset="fashion_mnist", root=SHARED_DATA, val_fraction=0.1))
    assert (len(data.train), len(data.val), len(data.test)) == (54000, 6000, 10000)
    assert data.train.x.dtype == torch.uint8 and (data.in_chans, data.image_size) == (1, 28)
    assert data.class_names[0] == "T-shirt/top" and data.num_classes == 10
