#!/usr/bin/env bash
# Build the toolkit's wheel from a copy of the source, install it with plain pip into a fresh venv and run it
# from outside the source tree: `compressor recipes`, `validate` and a smoke distill of a shipped recipe.
# No download: the fresh venv sees the dev venv's third-party packages (torch, timm, ...) through a .pth
# file over a folder of links that leaves out compressor itself, and pip installs with --no-index, so a
# dependency the wheel declares but nothing provides fails the check.
# Usage: bash .ci/wheel_check.sh      (VENV: the dev venv, default .venv)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dev="${VENV:-$root/.venv}"
work="$(mktemp -d "${TMPDIR:-/tmp}/compressor-wheel-ci.XXXXXX")"
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/src/edge"
cp -R "$root/pyproject.toml" "$root/setup.py" "$root/MANIFEST.in" "$root/README.md" "$root/compressor" \
    "$root/recipes" "$work/src/"
cp -R "$root/edge/compressor_edge" "$root/edge/README.md" "$work/src/edge/"
find "$work/src" -name __pycache__ -prune -exec rm -rf {} +
"$dev/bin/python" -m pip wheel --quiet --no-deps --no-build-isolation -w "$work/dist" "$work/src"

"$dev/bin/python" -m venv "$work/venv"
py="$work/venv/bin/python"
purelib() { "$1" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }
mkdir "$work/deps"
for entry in "$(purelib "$dev/bin/python")"/*; do
    case "$(basename "$entry")" in
        compressor* | __editable__* | _compressor* | pip | pip-*) ;;
        *) ln -s "$entry" "$work/deps/" ;;
    esac
done
echo "$work/deps" >"$(purelib "$py")/dev_venv_dependencies.pth"
"$py" -m pip uninstall --quiet --yes setuptools  # the venv's bundled copy would shadow the dev venv's
"$py" -m pip install --quiet --no-index "$work/dist"/compressor-*.whl

cd "$work"  # outside the source tree: what runs is the installed wheel
"$py" - "$work/venv" <<'PY'
import sys
from pathlib import Path

import compressor
import compressor_edge

for module in (compressor, compressor_edge):
    assert Path(module.__file__).is_relative_to(sys.argv[1]), f"{module.__name__} imported from {module.__file__}"
PY
bin="$work/venv/bin"
"$bin/compressor" --help >/dev/null
"$bin/compressor-edge" --help >/dev/null
"$bin/compressor" recipes | tee "$work/recipes.txt"
grep -q "^quickstart " "$work/recipes.txt"
"$bin/compressor" validate quickstart
"$bin/compressor" distill quickstart --smoke "run.output_dir=$work/runs"
test -f "$work/runs/quickstart-smoke/report/report.md"
echo "wheel_check: the wheel installs with plain pip and runs from outside the source tree"
