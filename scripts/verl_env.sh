#!/usr/bin/env bash
# Build .venv-verl: verl 0.9.1 + sdbench, for the verl adapter's tests (`make test-verl`) and for running
# examples/verl/ on a machine that has no verl environment of its own.
#
# Why a separate environment: verl 0.9.1 pins transformers<5.11 (the main .venv has transformers 5.2x) and pulls
# Ray. torch is held at 2.13.0 by a pip constraint file: a bare `torch` requirement from verl's dependency tree
# would otherwise pull the newest CUDA build (several GB). vLLM / SGLang are NOT installed here: they pin other
# torch versions and CUDA packages; a GPU cluster installs them with verl's own instructions (examples/verl/README.md).
#
# Usage: bash scripts/verl_env.sh [VENV_DIR]        (default .venv-verl; PYTHON=python3.11 to choose the interpreter)
# Re-running is cheap: the stamp file is written last, and a present stamp makes the script exit at once.
set -euo pipefail

cd "$(dirname "$0")/.."
VENV="${1:-.venv-verl}"
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
"${PIP[@]}" install --quiet -c "$CONSTRAINTS" verl==0.9.1
# What verl's own trainer modules import but verl==0.9.1's base requirements leave to its `verl-core` extra (whose
# other members are GPU-only): cachetools, fastapi and uvicorn for ray_trainer.compute_advantage, TransferQueue
# (+ pyzmq, msgspec) for the default v1 trainer that SdbenchPPOTrainerSync extends.
"${PIP[@]}" install --quiet -c "$CONSTRAINTS" cachetools fastapi uvicorn "TransferQueue>=0.1.10" pyzmq msgspec
# sdbench itself without its dependency list (that would ask for the main env's transformers, TRL, the caption
# metrics ...), then what the adapter, the parquet converter and the tests import beyond verl's set.
"${PIP[@]}" install --quiet -c "$CONSTRAINTS" --no-deps -e .
"${PIP[@]}" install --quiet -c "$CONSTRAINTS" "pytest>=8" "hypothesis>=6.100" "pyyaml>=6" "tyro>=0.9" \
  "pillow>=10" "datasets>=3.0" "pandas>=2.1" "tqdm>=4.66"

"$VENV/bin/python" -W ignore - <<'PY'
import torch, transformers, verl
import sdbench.integrations.verl  # registers the sdbench estimators, reward manager and v1 trainers
from verl.trainer.ppo.core_algos import get_adv_estimator_fn
from verl.trainer.ppo.v1 import get_trainer_cls
get_adv_estimator_fn("sdbench_sd_grpo"), get_trainer_cls("sdbench_sync")
assert torch.__version__.startswith("2.13.0"), f"pip replaced torch: {torch.__version__}"
print(f"torch {torch.__version__}, transformers {transformers.__version__}, verl {verl.__version__}")
PY
touch "$STAMP"
echo "built $VENV in $(( $(date +%s) - start )) s"
