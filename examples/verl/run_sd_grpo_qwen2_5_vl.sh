#!/usr/bin/env bash
# SD-GRPO inside Dr. GRPO (the paper's setting) on Qwen2.5-VL with verl 0.9.1: Ray (one or many nodes), FSDP actor,
# vLLM or SGLang rollouts, sdbench's segment rewards and advantage estimator. Commands: examples/verl/README.md.
#
#   NNODES=2 GPUS_PER_NODE=8 DATA=/shared/sdbench/verl/multipanel bash examples/verl/run_sd_grpo_qwen2_5_vl.sh
#   DRY_RUN=1 bash examples/verl/run_sd_grpo_qwen2_5_vl.sh      # print the overrides only
#
# Any extra argument is one more hydra override, e.g. `trainer.total_epochs=2`.
set -euo pipefail

MODEL=${MODEL:-Qwen/Qwen2.5-VL-3B-Instruct}    # or Qwen/Qwen2.5-VL-7B-Instruct
DATA=${DATA:-$HOME/data/sdbench/verl/multipanel}  # train.parquet + test.parquet from prepare_data.py
NNODES=${NNODES:-1}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
ESTIMATOR=${ESTIMATOR:-sdbench_sd_dr_grpo}    # sdbench_grpo | sdbench_dr_grpo | sdbench_sd_grpo | sdbench_sd_dr_grpo | sdbench_hybrid
OUTSIDE=${OUTSIDE:-holistic}                  # what tokens outside every segment get: holistic | zero | mean
HYBRID_LAMBDA=${HYBRID_LAMBDA:-0.5}           # read by sdbench_hybrid only
ROLLOUT=${ROLLOUT:-vllm}                      # vllm | sglang
ROLLOUT_N=${ROLLOUT_N:-8}                     # G, rollouts per prompt
TP=${TP:-2}                                   # rollout tensor parallel size (1 is enough for 3B)
EXPERIMENT=${EXPERIMENT:-${ESTIMATOR}-$(basename "$MODEL")-$(basename "$DATA")}

OVERRIDES=(
  # --- sdbench: estimator, reward manager, the v1 trainer that hands the segment records to the estimator ---
  "algorithm.adv_estimator=$ESTIMATOR"
  "+algorithm.sdbench.outside=$OUTSIDE"
  "+algorithm.sdbench.hybrid_lambda=$HYBRID_LAMBDA"
  "algorithm.use_kl_in_reward=False"           # the estimator checks token_level_rewards == scored reward
  "trainer.use_v1=True"
  "trainer.v1.trainer_mode=sdbench_sync"
  "reward.reward_manager.source=importlib"
  "reward.reward_manager.name=SdbenchRewardManager"
  "reward.reward_manager.module.path=pkg://sdbench.integrations.verl"
  # every Ray process imports sdbench.integrations.verl when it imports verl (registers estimators and trainers)
  "+ray_kwargs.ray_init.runtime_env.env_vars.VERL_USE_EXTERNAL_MODULES=sdbench.integrations.verl"
  # --- data ---
  "data.train_files=$DATA/train.parquet"
  "data.val_files=$DATA/test.parquet"
  "data.image_key=images"
  "data.train_batch_size=128"
  "data.max_prompt_length=4096"
  "data.max_response_length=1024"
  "data.filter_overlong_prompts=True"
  # --- policy: Dr. GRPO's loss (no per-sequence length normalisation, no KL) ---
  "actor_rollout_ref.model.path=$MODEL"
  "actor_rollout_ref.model.use_remove_padding=True"
  "actor_rollout_ref.model.enable_gradient_checkpointing=True"
  "actor_rollout_ref.actor.optim.lr=1e-6"
  "actor_rollout_ref.actor.ppo_mini_batch_size=64"
  "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4"
  "actor_rollout_ref.actor.loss_agg_mode=seq-mean-token-sum-norm"
  "actor_rollout_ref.actor.use_kl_loss=False"
  "actor_rollout_ref.actor.entropy_coeff=0"
  "actor_rollout_ref.actor.fsdp_config.param_offload=False"
  "actor_rollout_ref.actor.fsdp_config.optimizer_offload=False"
  # --- rollouts ---
  "actor_rollout_ref.rollout.name=$ROLLOUT"
  "actor_rollout_ref.rollout.n=$ROLLOUT_N"
  "actor_rollout_ref.rollout.tensor_model_parallel_size=$TP"
  "actor_rollout_ref.rollout.gpu_memory_utilization=0.6"
  "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=8"
  "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=8"
  # --- cluster and bookkeeping ---
  "trainer.nnodes=$NNODES"
  "trainer.n_gpus_per_node=$GPUS_PER_NODE"
  "trainer.logger=[console]"
  "trainer.project_name=sdbench"
  "trainer.experiment_name=$EXPERIMENT"
  "trainer.total_epochs=5"
  "trainer.save_freq=50"
  "trainer.test_freq=10"
)

if [ -n "${DRY_RUN:-}" ]; then
  printf '%s\n' "${OVERRIDES[@]}" "$@"
  exit 0
fi
export VERL_USE_EXTERNAL_MODULES=sdbench.integrations.verl  # the driver process itself
exec python3 -m verl.trainer.main_ppo "${OVERRIDES[@]}" "$@"
