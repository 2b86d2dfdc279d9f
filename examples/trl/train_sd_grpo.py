"""Train a VLM on an sdbench task with SD-GRPO (or SD-Dr. GRPO, the hybrid, GRPO, Dr. GRPO) inside TRL's GRPOTrainer.

What: builds the TRL dataset from a task folder written by `sdbench build-task`, scores completions through
sdbench's scoring path and trains with `sdbench.integrations.trl.SegmentGRPOTrainer`: TRL's trainer (generation,
loss_type, KL, vLLM, accelerate / DeepSpeed / FSDP) with sdbench's per-token advantages. Every `GRPOConfig` field
is a flag (`--loss_type dr_grpo`, `--num_generations 8`, `--use_vllm` …), or comes from `--config FILE.yaml`.

How:

    # one process, CPU, the tiny local model (sdbench's embedded default: built and warm-started once, cached)
    sdbench build-task --task multipanel --segments 2 4 --n-train 64 --n-test 16 --out runs/tasks/multipanel
    python examples/trl/train_sd_grpo.py --task runs/tasks/multipanel --model default --method sd-grpo \
        --use_cpu --bf16 false --max_steps 10 --per_device_train_batch_size 8 --num_generations 4 \
        --max_completion_length 128 --output_dir runs/trl/sd-grpo

    # 8 GPUs, Qwen2.5-VL-3B (a hub id or a local folder), DeepSpeed ZeRO-2 (ddp.yaml and fsdp.yaml work the same)
    accelerate launch --config_file examples/trl/zero2.yaml examples/trl/train_sd_grpo.py \
        --config examples/trl/qwen2_5_vl_sd_grpo.yaml --task runs/tasks/multipanel \
        --model Qwen/Qwen2.5-VL-3B-Instruct --output_dir runs/trl/qwen2_5_vl_3b-sd-dr-grpo

The method decides the advantage scaling, so TRL's `scale_rewards` must agree: "group" for grpo / sd-grpo,
"none" for dr-grpo / sd-dr-grpo, either for hybrid (see sdbench/integrations/trl.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ScriptArguments:
    """What the script needs besides GRPOConfig (which also holds --trust_remote_code)."""

    task: str = field(metadata={"help": "Folder written by `sdbench build-task` (its train split is used)."})
    model: str = field(default="default", metadata={
        "help": "Hub id or local folder of an image-text-to-text model (e.g. Qwen/Qwen2.5-VL-3B-Instruct), a "
                "checkpoint folder, or 'default' (sdbench's tiny embedded VLM)."})
    method: str = field(default="sd-grpo", metadata={
        "help": "Credit assignment: grpo, dr-grpo, sd-grpo, sd-dr-grpo or hybrid (sdbench.rl.advantages)."})
    outside: str = field(default="holistic", metadata={
        "help": "Advantage of tokens outside every segment under sd-* and hybrid: holistic, zero or mean."})
    hybrid_lambda: float | None = field(default=None, metadata={
        "help": "λ of the hybrid (λ·holistic + (1−λ)·per-segment), in [0, 1]; required by --method hybrid."})
    segments: list[int] = field(default_factory=list, metadata={
        "help": "Train only on examples with these numbers of segments K (default: all)."})
    reward: str | None = field(default=None, metadata={
        "help": "Per-segment reward metric (default: the task source's, task.yaml)."})
    holistic_reward: str | None = field(default=None, metadata={
        "help": "Rollout-level reward: 'mean' of the segment rewards or a whole-output metric (default: task's)."})
    dtype: str = field(default="auto", metadata={
        "help": "Weights dtype: auto (the checkpoint's), bfloat16, float16 or float32."})


def main() -> None:
    from accelerate import PartialState
    from transformers import AutoConfig
    from trl import GRPOConfig, TrlParser

    from sdbench.integrations.trl import SegmentCredit, SegmentGRPOTrainer, TaskRewards, task_dataset
    from sdbench.models.model_ref import resolve_model
    from sdbench.models.policy import find_image_token_ids, load_processor

    script, config = TrlParser((ScriptArguments, GRPOConfig)).parse_args_and_config()
    credit = SegmentCredit(script.method, script.outside, script.hybrid_lambda)  # checked before anything loads
    with PartialState().main_process_first():  # the default model is built once; datasets caches its map once
        model = resolve_model(script.model).load_from
        dataset = task_dataset(script.task, segments=script.segments)
    processor = load_processor(model, trust_remote_code=config.trust_remote_code)
    processor.tokenizer.padding_side = processor.tokenizer.truncation_side = "left"  # as TRL loads processors
    if not config.use_vllm and "suppress_tokens" not in (config.generation_kwargs or {}):
        # image placeholder tokens must never be sampled (a small or fresh policy does sample them)
        model_config = AutoConfig.from_pretrained(model, trust_remote_code=config.trust_remote_code)
        image_ids = find_image_token_ids(model_config, processor, processor.tokenizer)
        config.generation_kwargs = {**(config.generation_kwargs or {}), "suppress_tokens": sorted(image_ids)}
    config.model_init_kwargs = {"dtype": script.dtype, **(config.model_init_kwargs or {})}
    rewards = TaskRewards(script.task, processor.tokenizer, segments=script.segments, reward=script.reward,
                          holistic=script.holistic_reward)
    trainer = SegmentGRPOTrainer(model=model, args=config, train_dataset=dataset, processing_class=processor,
                                 task_rewards=rewards, credit=credit)
    trainer.train()
    trainer.save_model(config.output_dir)


if __name__ == "__main__":
    main()
