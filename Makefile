# physground: `make run` runs the main job (the quick ablation), `make test` runs the tests. Both create .venv on first use.
# GPU users: make TORCH_SPEC="torch==2.13.0" TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cu128" run
PYTHON ?= python3
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
VENV := .venv
PY := $(VENV)/bin/python
export MUJOCO_GL ?= egl

.PHONY: run test test-slow bench demo clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, so that nothing below resolves torch to a multi-GB CUDA build.
	$(PY) -m pip install -q $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

run: $(VENV)/.installed
	$(VENV)/bin/physground ablate --preset quick --workers 2 --resume

test: $(VENV)/.installed
	$(PY) -m pytest -q || test $$? -eq 5  # exit 5 = no tests collected

test-slow: $(VENV)/.installed
	$(PY) -m pytest -q -m slow

bench: $(VENV)/.installed
	$(VENV)/bin/physground bench-envs --out docs/benchmarks.md

demo: $(VENV)/.installed
	$(VENV)/bin/physground demo --out out/demo

clean:
	rm -rf $(VENV) out
