# Loss Lab: two commands (plus make mutation, for developers).
#   make lab    set up .venv on first use, then JupyterLab on notebooks/ (127.0.0.1, token on)
#   make test   set up .venv on first use, then unit tests, every notebook under nbval and, when a Chromium or
#               Chrome is found, the browser tests (tests/browser: JupyterLab and the widgets in a real browser)
#   make test-browser   the browser tests alone (needs chromium, or LOSSLAB_BROWSER=/path/to/chrome)
#   make mutation  (not part of make test) mutation testing on a seeded sample of mutants, prints caught/total
#   make notebooks-sync   kernel and slide metadata of every notebook, and its text twin NN_name.py (jupytext)
#   make notebook-from-text NB=00_tour   rebuild notebooks/00_tour.ipynb from its edited twin 00_tour.py
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LAB_ARGS ?=
# Notebooks and unit tests run in parallel, one notebook per worker (nbval needs --dist loadscope).
TEST_WORKERS ?= 2

.PHONY: lab lab-args test test-browser browser-status mutation setup clean notebooks-sync notebook-from-text

setup: $(STAMP)

# torch is pinned here (and only here) to the CPU build this kind of machine already has on disk;
# an open-ended requirement would pull gigabytes of CUDA packages. pip installs it (pip's configuration says where that
# wheel lies) together with uv, which installs the rest: uv downloads and unpacks in parallel, pip one package at a time
# (measured on 2 cores: 7 s against 73 s for the same 148 packages, the same versions). uv does not read pip's
# configuration, so where it cannot install (an index only pip is configured for), pip installs the same set instead.
# torch==2.13.0 is repeated to uv so that no dependency can move it.
# pip byte-compiles what it installs one file at a time; installed with --no-compile, everything is compiled on every
# core (compileall -j 0). The compiled files are needed: where PYTHONDONTWRITEBYTECODE is set (it is on this project's
# machines), Python never writes them, and every process would compile torch and more on each import. torch (a fifth of
# the code) compiles in the background while uv installs the rest. Not compiled: what no process of
# make test or make lab imports (test suites inside packages, torch's internal test utilities and ONNX export, pip,
# setuptools, and networkx, libcst, textual, which only mutmut uses); it still works, compiled in memory on import.
# Measured on 2 cores, quiet: compiling everything took 47 s, this set 31 s. The workbench package is compiled too (its
# __pycache__ is git-ignored; an edited module is recompiled on import, as always).
# compileall exits 1 on the few files some packages ship that are not Python 3 (pip skips them too).
PIP_INSTALL := $(PY) -m pip install --quiet --no-compile
UV_INSTALL := $(VENV)/bin/uv pip install --quiet --python $(PY)
# What uv installs, or pip where uv cannot ($(1): the installer): one list, so both install the same set.
INSTALL_REST = $(1) -e ".[lab,dev]" torch==2.13.0 && $(1) --no-deps libauc==2.0.1 lightly==1.6.0
NOT_COMPILED := /site-packages/(.*/)?(tests?|testing/_internal|onnx)/|/site-packages/(networkx|pip|setuptools|libcst|textual|mutmut|uv)/
COMPILE := $(PY) -m compileall -qq -j 0 -x '$(NOT_COMPILED)'
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) torch==2.13.0
	$(PIP_INSTALL) uv==0.13.9 || echo "no uv here: pip installs the rest (slower)"
	# LibAUC's loss module is the reference of iSogCLR's test, lightly's loss files those of Barlow Twins', VICReg's
	# and DCL's: no dependencies for either, as their package metadata pulls torchvision (PyPI's breaks this torch),
	# lightning and graph libraries that the loss files never import.
	$(COMPILE) $(VENV)/lib/python3*/site-packages/torch > /dev/null & compiling=$$!; \
	{ $(call INSTALL_REST,$(UV_INSTALL)); } || \
	{ echo "uv did not install; pip installs the same set (slower)"; $(call INSTALL_REST,$(PIP_INSTALL)); }; \
	installed=$$?; \
	wait $$compiling; exit $$installed
	$(COMPILE) $(VENV)/lib workbench || true
	touch $(STAMP)

# Authentication stays on: JupyterLab generates a token and prints the URL that carries it.
# Containers and CI machines often run as root, which JupyterLab refuses without --allow-root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
# The one place the server's flags live: the browser tests start JupyterLab with them (make -s lab-args).
LAB_SERVER_ARGS := --ServerApp.ip=127.0.0.1 $(ALLOW_ROOT)
lab: $(STAMP)
	$(VENV)/bin/jupyter lab $(LAB_SERVER_ARGS) --ServerApp.root_dir=notebooks $(LAB_ARGS)

lab-args:
	@echo $(LAB_SERVER_ARGS)

# The browser tests (tests/browser, marker `browser`) skip when no Chromium or Chrome is found, unless
# LOSSLAB_REQUIRE_BROWSER=1 (.ci/run sets it), which turns a missing browser into a failure. The status line
# is printed before and after the run, so that a skip is not lost in pytest's output.
BROWSER_STATUS = $(PY) tests/browser/labdriver.py --status
test: $(STAMP)
	@$(BROWSER_STATUS); \
	MPLBACKEND=Agg $(PY) -m pytest -n $(TEST_WORKERS) --dist loadscope --nbval-lax --nbval-current-env; rc=$$?; \
	$(BROWSER_STATUS); exit $$rc

test-browser: $(STAMP)
	@$(BROWSER_STATUS)
	MPLBACKEND=Agg $(PY) -m pytest -m browser tests/browser $(BROWSER_TEST_ARGS)

# mutmut's mutants of workbench/losses, analysis and train on a seeded sample (benchmarks/mutation.py: the whole
# set takes hours on 2 cores). Larger or other draws: make mutation MUTATION_ARGS="--sample 300 --seed 1".
MUTATION_ARGS ?= --sample 80 --seed 0
mutation: $(STAMP)
	MPLBACKEND=Agg $(PY) benchmarks/mutation.py $(MUTATION_ARGS)

# Idempotent and quick: a notebook or twin is rewritten only when it changes (metadata only in the .ipynb).
notebooks-sync: $(STAMP)
	$(PY) workbench/notebook_sync.py

notebook-from-text: $(STAMP)
	@test -n "$(NB)" || { echo "usage: make notebook-from-text NB=00_tour"; exit 2; }
	$(PY) workbench/notebook_sync.py --from-text notebooks/$(basename $(notdir $(NB))).py

clean:
	rm -rf $(VENV) mutants
