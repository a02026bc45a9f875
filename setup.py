"""Build hook: copy the top-level recipes/*.yaml into the wheel as compressor/recipes (project metadata: pyproject.toml)."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithRecipes(build_py):
    """build_py that also ships the recipes, so an installed toolkit lists and runs them by name."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads recipes/ from the source tree
            return
        target = Path(self.build_lib) / "compressor" / "recipes"
        target.mkdir(parents=True, exist_ok=True)
        for recipe in sorted(Path(__file__).resolve().parent.joinpath("recipes").glob("*.yaml")):
            shutil.copy2(recipe, target / recipe.name)


setup(cmdclass={"build_py": BuildWithRecipes})
