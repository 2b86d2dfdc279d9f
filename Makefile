# Fresh machine:  `make demo` (set-up + main job)  ·  `make test` (set-up if needed + test suite)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test

# torch 2.13.0 goes in first: here it is the local CPU build; a bare `torch` requirement would pull
# multi-GB CUDA wheels. pyproject.toml only asks for torch>=2.4, which 2.13.0 satisfies.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/sdbench pipeline

test: $(STAMP)
	@if [ -n "$$CI" ]; then bash scripts/install_chromium.sh; fi  # the HTML leaderboard is checked in Chromium
	$(BIN)/python -m pytest -q

