# AEGIS: `make demo` runs the main job on its embedded default; `make test` runs the test suite.
# Both create or reuse .venv/ and install the project (CPU torch first, never a multi-GB CUDA build by accident).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0

.PHONY: venv install install-dev demo test test-slow clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Installs torch==2.13.0 (the CPU build on CPU machines) only when the venv has no torch yet.
venv: $(PY)
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet "$(TORCH_SPEC)"

install: venv
	$(PY) -m pip install --quiet -e .

install-dev: venv
	$(PY) -m pip install --quiet -e ".[dev]"

demo: install
	$(PY) tools/demo.py

test: install-dev
	$(PY) -m pytest -q

test-slow: install-dev
	$(PY) -m pytest -q -m slow

clean:
	rm -rf work_dirs .pytest_cache
