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

# The lmms-eval export run end to end by the real lmms-eval, in its own environment (.venv-lmms; built on first use
# by scripts/lmms_eval_env.sh, about 2 minutes). Not part of `make test`.
.PHONY: test-lmms-eval
test-lmms-eval:
	bash scripts/lmms_eval_env.sh
	.venv-lmms/bin/python -m pytest -q tests/optional/test_lmms_eval_export.py

# The verl adapter run through verl 0.9.1's own code, in its own environment (.venv-verl; built on first use by
# scripts/verl_env.sh, about 2 minutes: verl pins transformers < 5.11). Not part of `make test`.
.PHONY: test-verl
test-verl:
	bash scripts/verl_env.sh
	.venv-verl/bin/python -m pytest -q -p no:cacheprovider -W ignore::UserWarning tests/optional/test_verl_adapter.py
