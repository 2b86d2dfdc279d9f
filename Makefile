# Fresh machine:  `make demo` (set-up + main job)  ·  `make test` (set-up if needed + test suite)
#
# Every environment installs from a committed lock (requirements/*.lock: every package at its tested version,
# torch 2.13.0 CPU included) through scripts/venv.sh; `make lock` refreshes the locks from requirements/*.in.
VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-verl test-lmms-eval lock

# Rebuilt when the lock or pyproject.toml changes (scripts/venv.sh keeps the stamp).
$(STAMP): requirements/main.lock pyproject.toml
	bash scripts/venv.sh main $(VENV)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/sdbench pipeline

test: $(STAMP)
	@if [ -n "$$CI" ]; then bash scripts/install_chromium.sh; fi  # the HTML leaderboard is checked in Chromium
	$(BIN)/python -m pytest -q

# The verl adapter run through verl 0.9.1's own code, in its own environment (.venv-verl from
# requirements/verl.lock; built on first use, about 2 minutes: verl pins transformers < 5.11). Not part of `make test`.
test-verl:
	bash scripts/venv.sh verl
	.venv-verl/bin/python -m pytest -q -p no:cacheprovider -W ignore::UserWarning tests/optional/test_verl_adapter.py

# The lmms-eval export run end to end by the real lmms-eval, in its own environment (.venv-lmms from
# requirements/lmms-eval.lock; built on first use, about 2 minutes). Not part of `make test`.
test-lmms-eval:
	bash scripts/venv.sh lmms-eval
	.venv-lmms/bin/python -m pytest -q tests/optional/test_lmms_eval_export.py

# Re-resolve requirements/{main,verl,lmms-eval}.in into the locks (about 6 minutes); then run the three test
# targets above before committing the new locks.
lock:
	bash scripts/lock.sh
