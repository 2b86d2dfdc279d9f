#!/usr/bin/env bash
# Build .venv-lmms: lmms-eval 0.7.3 + sdbench, for the lmms-eval export test (`make test-lmms-eval`) and for
# running an exported task (`sdbench export-lmms-eval`) on a machine that has no lmms-eval environment of its own.
#
# Why a separate environment: lmms-eval pulls a long dependency list (torchvision, opencv, wandb, openai, timm,
# sacrebleu …) that the main .venv does not need and must not drift with. torch is held at 2.13.0 by a pip
# constraint file: lmms-eval's `torch>=2.1` / `torchvision` requirements would otherwise pull the newest CUDA build
# (several GB). The torchvision wheel that pip picks is built against CUDA torch and is removed at the end:
# lmms-eval imports and runs without it (its video helpers import torchvision lazily), and transformers then picks
# the PIL image processors, as in the main .venv (see sdbench/policy.py, "Processors without torchvision").
# decord is added: lmms-eval's HF model classes (llava_hf, qwen2_5_vl …) import it at module level but do not list
# it as a dependency (its only wheel is manylinux x86_64).
#
# Usage: bash scripts/lmms_eval_env.sh [VENV_DIR]      (default .venv-lmms; PYTHON=python3.11 to choose the interpreter)
# Re-running is cheap: the stamp file is written last, and a present stamp makes the script exit at once.
set -euo pipefail

cd "$(dirname "$0")/.."
VENV="${1:-.venv-lmms}"
PYTHON="${PYTHON:-python3}"
STAMP="$VENV/.installed"
if [ -f "$STAMP" ]; then
  echo "$VENV is ready (remove $STAMP to rebuild)"
  exit 0
fi

start=$(date +%s)
"$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip)
"${PIP[@]}" install --quiet --upgrade pip

CONSTRAINTS="$VENV/constraints.txt"
cat > "$CONSTRAINTS" <<'CONSTRAINTS_EOF'
# hold torch: any package asking for torch must accept 2.13.0 (the local CPU build here; GPU users change this)
torch==2.13.0
CONSTRAINTS_EOF

"${PIP[@]}" install --quiet -c "$CONSTRAINTS" torch==2.13.0
"${PIP[@]}" install --quiet -c "$CONSTRAINTS" lmms-eval==0.7.3
"${PIP[@]}" install --quiet -c "$CONSTRAINTS" -e . "pytest>=8" "decord==0.6.0"
if "$VENV/bin/python" -m pip show torchvision >/dev/null 2>&1; then
  "${PIP[@]}" uninstall --quiet -y torchvision  # CUDA-linked; see the header
fi

"$VENV/bin/python" - <<'PY'
import importlib.metadata as md

import torch, transformers
import lmms_eval.evaluator  # noqa: F401  (the module `python -m lmms_eval` drives)
import lmms_eval.models.simple.llava_hf  # noqa: F401  (the model class the export test runs)
import sdbench.lmms_eval_export  # noqa: F401
print(f"torch {torch.__version__}, transformers {transformers.__version__}, lmms-eval {md.version('lmms_eval')}")
PY
touch "$STAMP"
echo "built $VENV in $(( $(date +%s) - start )) s"
