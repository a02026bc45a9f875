# The two set-up commands (each works on a fresh machine with only Python 3.10+ and make):
#   make quickstart   set everything up, then run recipes/quickstart.yaml end to end (offline, CPU, minutes)
#   make test         set everything up, then run lint, type checks, the test suite, the torch-free edge-kit tests
#                     and the wheel check (plain `pip install` of the built wheel, run from outside the tree)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup quickstart test lint typecheck pytest edge-test wheel-test bench clean

$(STAMP): pyproject.toml edge/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[dev,openvino]"  # the toolkit carries the edge kit (edge/compressor_edge)
	# the tracker extras in a second step: resolved together with torchattacks' old requests pin
	# (requests~=2.25, the test oracle's) pip backtracks for many minutes; installed after, it only warns
	$(BIN)/python -m pip install --quiet "wandb>=0.17" "mlflow>=2.12"
	touch $(STAMP)

setup: $(STAMP)

quickstart: $(STAMP)
	$(BIN)/compressor distill recipes/quickstart.yaml

lint: $(STAMP)
	$(BIN)/ruff check compressor edge/compressor_edge edge/tests tests benchmarks scripts setup.py
	$(BIN)/ruff format --check compressor edge/compressor_edge edge/tests tests benchmarks scripts setup.py

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest -q

edge-test:
	bash edge/ci_torch_free.sh

wheel-test: $(STAMP)
	VENV=$(VENV) bash .ci/wheel_check.sh

test: lint typecheck pytest edge-test wheel-test

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache .mypy_cache
