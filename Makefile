# The two set-up commands (each works on a fresh machine with only Python 3.10+ and make):
#   make quickstart   set everything up, then run recipes/quickstart.yaml end to end (offline, CPU, minutes)
#   make test         set everything up, then run lint, type checks, the test suite and the torch-free edge-kit tests
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup quickstart test lint typecheck pytest edge-test bench clean

$(STAMP): pyproject.toml export/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e "./export[openvino]" -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

quickstart: $(STAMP)
	$(BIN)/compressor distill recipes/quickstart.yaml

lint: $(STAMP)
	$(BIN)/ruff check compressor export/compressor_edge export/tests tests benchmarks scripts
	$(BIN)/ruff format --check compressor export/compressor_edge export/tests tests benchmarks scripts

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest -q

edge-test:
	bash export/ci_torch_free.sh

test: lint typecheck pytest edge-test

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache .mypy_cache
