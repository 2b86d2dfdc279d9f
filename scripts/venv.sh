#!/usr/bin/env bash
# Build one of the project's virtual environments from its committed lock, so every machine gets the versions
# that were tested:
#
#   bash scripts/venv.sh main        # .venv       <- requirements/main.lock       (make demo, make test)
#   bash scripts/venv.sh verl        # .venv-verl  <- requirements/verl.lock       (make test-verl, examples/verl)
#   bash scripts/venv.sh lmms-eval   # .venv-lmms  <- requirements/lmms-eval.lock  (make test-lmms-eval)
#   bash scripts/venv.sh main ../venv-x  # another folder; PYTHON=python3.11 picks the interpreter
#
# A lock lists every package with its exact version (pip, setuptools and torch included); it is installed with
# --no-deps, so nothing is resolved at install time and nothing drifts with the registry. sdbench itself goes in
# editable, without dependencies (they are in the lock), built with the lock's setuptools (no build isolation).
# `pip check` then confirms the lock is complete. The locks are refreshed by `make lock` (scripts/lock.sh).
#
# The environment is rebuilt from scratch when its lock or pyproject.toml changed since it was built (the stamp
# file holds their hash), so no package from an older lock stays behind; otherwise this exits at once.
set -euo pipefail
cd "$(dirname "$0")/.."

NAME="${1:-}"
case "$NAME" in
  main) DEFAULT_VENV=.venv ;;
  verl) DEFAULT_VENV=.venv-verl ;;
  lmms-eval) DEFAULT_VENV=.venv-lmms ;;
  *) echo "usage: bash scripts/venv.sh main|verl|lmms-eval [VENV_DIR]" >&2; exit 2 ;;
esac
VENV="${2:-$DEFAULT_VENV}"
PYTHON="${PYTHON:-python3}"
LOCK="requirements/$NAME.lock"
STAMP="$VENV/.installed"
KEY="$(cat "$LOCK" pyproject.toml | sha256sum | cut -c1-16)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$KEY" ]; then
  echo "$VENV is up to date with $LOCK"
  exit 0
fi
if [ -e "$VENV" ]; then
  echo "$VENV was built from another $LOCK or pyproject.toml: rebuilding it"
  rm -rf "$VENV"
fi

start=$(date +%s)
echo "building $VENV from $LOCK (about 1.5-2 minutes) ..."
"$PYTHON" -m venv "$VENV"
pip_() {  # quiet pip; this machine's pip.conf names local index folders that may be absent: drop those lines
  "$VENV/bin/python" -m pip --quiet --disable-pip-version-check "$@" 2>&1 | { grep -v "is ignored: it is neither" || true; }
}
pip_ install "$(grep -E '^pip==' "$LOCK")"
pip_ install --no-deps -r "$LOCK"
PYTHONWARNINGS=ignore pip_ install --no-deps --no-build-isolation -e .  # (no editable-install notice)

# The lock must be complete: every requirement of every installed package satisfied, except the ones an
# environment leaves out on purpose (verl: sdbench's own list, which is the main environment's; lmms-eval:
# torchvision, whose PyPI wheel is CUDA-linked and breaks imports here; lmms-eval runs without it). pip 26 also
# calls decord 0.6.0's only wheel (tagged manylinux2010) "not supported on this platform"; it imports and runs.
case "$NAME" in
  verl) ALLOWED='^sdbench ' ;;
  lmms-eval) ALLOWED='requires torchvision|^decord 0\.6\.0 is not supported on this platform' ;;
  *) ALLOWED='^$' ;;
esac
if ! problems="$("$VENV/bin/python" -m pip check 2>&1)"; then
  unexpected="$(printf '%s\n' "$problems" | grep -Ev "$ALLOWED" || true)"
  if [ -n "$unexpected" ]; then
    printf '%s: the lock is incomplete or inconsistent (refresh it with `make lock`):\n%s\n' "$LOCK" "$unexpected" >&2
    exit 1
  fi
fi

# What each environment is for must import.
case "$NAME" in
  main) CHECK='
import torch, transformers, trl, sdbench.cli
print(f"torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}")' ;;
  verl) CHECK='
import torch, transformers, verl
import sdbench.integrations.verl  # registers the sdbench estimators, reward manager and v1 trainers
from verl.trainer.ppo.core_algos import get_adv_estimator_fn
from verl.trainer.ppo.v1 import get_trainer_cls
get_adv_estimator_fn("sdbench_sd_grpo"), get_trainer_cls("sdbench_sync")
print(f"torch {torch.__version__}, transformers {transformers.__version__}, verl {verl.__version__}")' ;;
  lmms-eval) CHECK='
import importlib.metadata as md
import torch, transformers
import lmms_eval.evaluator  # noqa: F401  (the module `python -m lmms_eval` drives)
import lmms_eval.models.simple.llava_hf  # noqa: F401  (the model class the export test runs)
import sdbench.commands.lmms_eval_export  # noqa: F401
version = md.version("lmms_eval")
print(f"torch {torch.__version__}, transformers {transformers.__version__}, lmms-eval {version}")' ;;
esac
if ! out="$("$VENV/bin/python" -W ignore -c "$CHECK" 2>&1)"; then
  printf '%s\n%s: the import check failed (see above)\n' "$out" "$VENV" >&2
  exit 1
fi
printf '%s\n' "$out" | tail -1
echo "$KEY" > "$STAMP"
echo "built $VENV from $LOCK in $(( $(date +%s) - start )) s"
