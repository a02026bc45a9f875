#!/usr/bin/env bash
# Install the edge kit into a throw-away venv WITHOUT torch and run its tests there.
# Proves compressor-edge installs and works on a device that has only numpy + onnxruntime.
# Usage: bash edge/ci_torch_free.sh [extra pytest args]    (needs python3 >= 3.10 and PyPI)
# EDGE_EXTRAS (default "openvino") names the kit's extras to install, so the OpenVINO backend is tested
# torch-free too; EDGE_EXTRAS= (empty) checks the bare kit, where the OpenVINO tests skip with the reason.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d "${TMPDIR:-/tmp}/compressor-edge-ci.XXXXXX")"
trap 'rm -rf "$work"' EXIT

"$python" -m venv "$work/venv"
py="$work/venv/bin/python"
"$py" -m pip install --quiet --upgrade pip
"$py" -m pip install --quiet numpy onnx onnxruntime pytest pillow
# Install from a copy so the build leaves nothing (build/, *.egg-info) in the source tree.
mkdir "$work/src"
cp -R "$here/pyproject.toml" "$here/README.md" "$here/compressor_edge" "$work/src/"
extras="${EDGE_EXTRAS-openvino}"
"$py" -m pip install --quiet "$work/src${extras:+[$extras]}"

if "$py" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is None)"; then
    echo "ci_torch_free: torch is importable in the throw-away venv; the check is meaningless" >&2
    exit 1
fi
"$work/venv/bin/compressor-edge" --help >/dev/null

# Run from outside the source tree so the installed package, not ./edge, is what gets imported.
cd "$work"
"$py" -m pytest -p no:cacheprovider --rootdir "$here" -c "$here/pyproject.toml" "$here/tests" "$@"
