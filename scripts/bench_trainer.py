"""Benchmark sdbench's RL trainer (GRPO and SD-GRPO) against TRL's GRPOTrainer on the same tiny VLM, CPU.

What: one process builds a synthetic task (multichart or multipanel, every example with K segments,
`sdbench.data.build_task`) and a random-weight Qwen2.5-VL (`sdbench.models.tiny_vlm`, the embedded default's size: text
256 x 4, vision 96 x 2, 224 px images, and its tokenizer recipe: BPE on the three tasks' synthetic texts, 1284
tokens)
into a temp folder, loads three copies of the same weights and trains each for `--warmup` + `--steps` steps,
interleaved round by round (all three share the machine's noise; the order rotates every round):

  - sdbench GRPO      `sdbench.rl.trainer.train_step` with method "grpo"
  - sdbench SD-GRPO   the same with method "sd-grpo"
  - TRL GRPO          `trl.GRPOTrainer` (TRL 1.16) and its own `train()` loop; a callback between two of its
                      optimizer steps runs the sdbench steps scheduled there. A TRL step's time is from the
                      callback's return to the next step's end (data loading, generation, reward,
                      forward/backward, optimizer: everything of the step).

Everything runs in the main thread: each OS thread that runs torch ops gets its own OpenMP team, and a parked
team's spinning threads slowed the other one by 30-60 % on 2 cores when TRL ran in a worker thread.

It prints seconds per step (median and mean over the timed steps, the warm-up left out), the split into
generation / reward / update, the peak memory of each trainer, and the ratios sdbench GRPO / TRL and
SD-GRPO / GRPO (targets: <= 0.7 and within 5 %).

Equal work. All three see the same P prompts at step s (`sdbench.rl.trainer.sample_prompts(seed, s)`; TRL gets
them as its dataset, in order, `shuffle_dataset=False`), G rollouts each, exactly `--max-new-tokens` new tokens
per rollout: the end-of-turn tokens (<|im_end|>, <|endoftext|>) are suppressed in sampling in both trainers,
like the image placeholder tokens (sdbench: added to the policy's suppressed ids, which also keeps them out of
its log-prob normaliser; TRL: `generation_kwargs={"suppress_tokens": ...}`), so no rollout ends early and every
completion has the same length. Sampling: temperature 1, top_p 1, top_k 0, no repetition penalty. Loss: the
clipped policy gradient with eps 0.2, beta 0 (no reference model), token-mean aggregation (TRL
loss_type="bnpo", which is sdbench's "token-mean"; tests/equivalence checks they are equal), group-scaled
advantages (TRL scale_rewards="group" == sdbench "grpo"), one optimizer step per generation batch
(TRL: num_iterations=1, steps_per_generation=1, gradient_accumulation_steps=1, per_device_train_batch_size=P·G;
old log-probs are then not recomputed by either trainer), AdamW (torch's) at the same constant learning rate,
grad-norm clipping at 1.0. sdbench accumulates over micro-batches of `--micro-batch-size` rows, TRL does one
forward/backward of all P·G rows. How each trainer computes is its own: sdbench runs a prompt once for its G
rollouts in generation and in the update (sdbench/models/logprobs.py, sdbench/rollout/hf_backend.py), TRL runs
every row in full. Reward: the task's per-segment reward (sdbench.data.scoring.Scorer, the same
object type and call for both), holistic reward = the mean over segments; TRL's reward function decodes the
completion ids the way sdbench does (`decode_with_offsets`) and returns that mean.

Memory: RSS is per process and glibc keeps freed memory, so three trainers in one process cannot be told apart.
With `--memory subprocess` (default) each trainer is run again alone in a fresh subprocess (1 warm-up + 1 step
on the same task and model); a background thread samples its RSS every 5 ms. Reported: the peak RSS during its
steps and the growth over the RSS just before its first step (activations, logits, KV cache, optimizer state
allocated at the first step). `--memory none` skips it.

Why: sdbench's own trainer is the reference implementation that the benchmark's numbers come from; it should
cost less than the general engine (TRL) that runs the same method at scale, and SD-GRPO should cost what GRPO
costs. Timings on a shared 2-core machine swing (another process can take a core): compare ratios from the same
run (the per-round ratios are printed too), pin threads (`--threads`, default 2), and look at the load average
(`uptime`, printed before and after).

How:
    .venv/bin/python scripts/bench_trainer.py                          # multichart K=2, P=2, G=8, 64 tokens, 5 steps
    .venv/bin/python scripts/bench_trainer.py --task multipanel --prompts 1 --steps 8 --threads 1
    .venv/bin/python scripts/bench_trainer.py --profile sdbench-sd-grpo   # cProfile its timed steps (top 30)
    .venv/bin/python scripts/bench_trainer.py --workdir runs/bench_trainer         # keep the task and model for the next run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

TRAINERS = ("sdbench-grpo", "sdbench-sd-grpo", "trl-grpo")


# ---- memory ---------------------------------------------------------------------------------------------------
def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class RssSampler:
    """Max RSS over a window, sampled every `interval` s by a daemon thread."""

    def __init__(self, interval: float = 0.005):
        self.interval, self.peak, self._on = interval, 0.0, False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            if self._on:
                self.peak = max(self.peak, rss_mb())
            time.sleep(self.interval)

    def start(self):
        self.peak = rss_mb()
        self._on = True

    def stop(self) -> float:
        self._on = False
        return max(self.peak, rss_mb())


# ---- task and model -------------------------------------------------------------------------------------------
def build_assets(args, workdir: Path) -> tuple[Path, Path]:
    """The task folder and the model folder (built once into workdir; reused when present)."""
    import torch

    from sdbench.data.build_task import BuildTaskConfig, build_task
    from sdbench.data.task_data import load_task_data
    from sdbench.models.tiny_vlm import VisionTower, build_tiny_vlm, corpus_texts, train_tokenizer

    task_dir = workdir / f"task-{args.task}-k{args.segments}"
    model_dir = workdir / f"model-{args.hidden_size}x{args.num_layers}"
    if not (task_dir / "manifest.json").is_file():
        build_task(BuildTaskConfig(task=args.task, segments=(args.segments,), n_train=args.n_train, n_test=4,
                                   seed=args.seed, out=task_dir, overwrite=True), quiet=True)
    if not (model_dir / "tiny_vlm.json").is_file():
        # the embedded default's tokenizer recipe (sdbench.models.default_model): BPE (at most 2048 tokens) on the
        # synthetic train texts of all three tasks, K in (1, 2, 4); 300 examples each give 1284 tokens (the default
        # model, on 1500 each, has 1312): the LM head and the logits are the default's size
        texts = []
        for name in ("multipanel", "multichart", "subfigure"):
            folder = build_task(BuildTaskConfig(task=name, segments=(1, 2, 4), n_train=300, n_test=1, seed=args.seed,
                                                out=workdir / f"corpus-{name}", overwrite=True), quiet=True)
            texts += corpus_texts(load_task_data(folder).examples("train"))
        tokenizer = train_tokenizer(texts, 2048, "qwen2_5_vl")
        state = torch.random.get_rng_state()
        build_tiny_vlm("qwen2_5_vl", tokenizer, model_dir, hidden_size=args.hidden_size, num_layers=args.num_layers,
                       vision=VisionTower(hidden_size=96, num_layers=2, num_heads=2), image_size=224,
                       seed=args.seed, overwrite=True)
        torch.random.set_rng_state(state)
    return task_dir, model_dir


def load_policy_no_eos(model_dir: Path):
    """The policy with its end-of-turn tokens suppressed like its image tokens: every rollout runs to the limit."""
    import dataclasses

    from sdbench.models.policy import load_policy

    policy = load_policy(str(model_dir))
    return dataclasses.replace(policy, image_token_ids=frozenset(policy.image_token_ids | policy.eos_token_ids))


# ---- sdbench ------------------------------------------------------------------------------------------------
class SdbenchRunner:
    def __init__(self, args, task_dir: Path, model_dir: Path, method: str):
        import torch

        from sdbench.data.scoring import Scorer
        from sdbench.rl.run_setup import load_train_examples
        from sdbench.rl.train_config import TrainConfig
        from sdbench.rollout.backend import SamplingParams
        from sdbench.rollout.factory import make_backend

        self.name = f"sdbench-{method}"
        self.cfg = cfg = TrainConfig(
            task=task_dir, model=str(model_dir), method=method, seed=args.seed, steps=args.warmup + args.steps,
            prompts_per_step=args.prompts, group_size=args.group_size, max_new_tokens=args.max_new_tokens,
            learning_rate=args.learning_rate, micro_batch_size=args.micro_batch_size, threads=args.threads,
            reward=args.reward, holistic_reward="mean", clip_eps_low=0.2, clip_eps_high=0.2, beta=0.0,
            loss_aggregation="token-mean", max_grad_norm=1.0, weight_decay=0.0, warmup_steps=0)
        _, spec, source, self.examples = load_train_examples(cfg)
        self.policy = load_policy_no_eos(model_dir)
        self.scorer = Scorer(spec, source, self.examples, metrics=(), reward=cfg.reward, holistic="mean")
        self.optimizer = torch.optim.AdamW([p for p in self.policy.model.parameters() if p.requires_grad],
                                           lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: 1.0)
        self.backend = make_backend("hf", self.policy)
        self.params = SamplingParams(cfg.max_new_tokens, cfg.temperature, cfg.top_p)
    def step(self, step: int) -> dict:
        from sdbench.rl.trainer import train_step

        m = train_step(self.cfg, step, self.policy, None, self.backend, self.params, self.scorer, self.examples,
                       self.optimizer, self.scheduler)
        gen, score = m["seconds/generate"], m["seconds/score"]
        return {"generate": gen, "reward": score, "update": m["seconds/step"] - gen - score,
                "reward_mean": m["reward/holistic"], "tokens": m["completion_length"],
                "logprob_gap_max": m["logprob_gap_max"]}


# ---- TRL ------------------------------------------------------------------------------------------------------
class TrlRunner:
    """TRL's GRPOTrainer. Its own loop (`trainer.train()`) drives the benchmark: a callback runs between TRL's
    optimizer steps, and there the other trainers' steps of the schedule run, in the same (main) thread.

    One thread matters: each OS thread that runs torch ops gets its own OpenMP team, and an idle team's spinning
    threads slow the other team down on 2 cores (measured: sdbench steps 1.35-1.75 s alone, 2.0-2.6 s with TRL
    parked in a second thread)."""

    name = "trl-grpo"

    def __init__(self, args, task_dir: Path, model_dir: Path, out_dir: Path):
        import torch
        from datasets import Dataset
        from transformers import AutoModelForImageTextToText, PrinterCallback, TrainerCallback
        from trl import GRPOConfig, GRPOTrainer

        from sdbench.data.scoring import Scorer
        from sdbench.data.token_spans import decode_with_offsets
        from sdbench.rl.run_setup import load_train_examples
        from sdbench.rl.train_config import TrainConfig
        from sdbench.rl.trainer import sample_prompts

        total = args.warmup + args.steps
        cfg = TrainConfig(task=task_dir, model=str(model_dir), seed=args.seed, reward=args.reward,
                          prompts_per_step=args.prompts, group_size=args.group_size)
        _, spec, source, examples = load_train_examples(cfg)
        policy = load_policy_no_eos(model_dir)  # processor, tokenizer and the suppressed ids
        # as TRL loads a processor itself (AutoProcessor(..., padding_side="left", truncation_side="left")): its
        # forward pass left-pads the prompt ids and the processor's mm_token_type_ids must line up with them
        policy.tokenizer.padding_side = policy.tokenizer.truncation_side = "left"
        scorer = Scorer(spec, source, examples, metrics=(), reward=args.reward, holistic="mean")
        by_id = {ex.id: ex for ex in examples}
        tokenizer, eos = policy.tokenizer, policy.eos_token_ids
        rows = [ex for s in range(total) for ex in sample_prompts(examples, args.prompts, args.seed, s)]
        dataset = Dataset.from_dict({"prompt": [[{"role": "user", "content": ex.prompt}] for ex in rows],
                                     "images": [list(ex.images) for ex in rows],
                                     "example_id": [ex.id for ex in rows]})
        self.timings: dict[str, float] = {}
        self.tokens = float("nan")

        def sdbench_reward(prompts, completions, completion_ids, example_id, **kwargs):
            t0 = time.perf_counter()
            texts = [decode_with_offsets(ids, tokenizer).text for ids in completion_ids]
            hit_limit = [not (ids and ids[-1] in eos) for ids in completion_ids]
            scores = scorer.score([by_id[i] for i in example_id], texts, hit_length_limit=hit_limit)
            self.timings["reward"] = self.timings.get("reward", 0.0) + time.perf_counter() - t0
            self.tokens = sum(len(ids) for ids in completion_ids) / len(completion_ids)
            return [s.holistic_reward for s in scores]

        config = GRPOConfig(
            output_dir=str(out_dir), seed=args.seed, max_steps=total, per_device_train_batch_size=args.prompts *
            args.group_size, num_generations=args.group_size, gradient_accumulation_steps=1, steps_per_generation=1,
            num_iterations=1, max_completion_length=args.max_new_tokens, temperature=1.0, top_p=1.0, top_k=0,
            repetition_penalty=1.0, generation_kwargs={"suppress_tokens": sorted(policy.image_token_ids)},
            learning_rate=args.learning_rate, lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0,
            max_grad_norm=1.0, optim="adamw_torch", beta=0.0, loss_type="bnpo", scale_rewards="group",
            epsilon=0.2, epsilon_high=0.2, mask_truncated_completions=False, shuffle_dataset=False,
            remove_unused_columns=False, use_cpu=True, bf16=False, fp16=False, gradient_checkpointing=False,
            report_to="none", save_strategy="no", logging_strategy="no", disable_tqdm=True,
            dataloader_num_workers=0, log_completions=False)
        model = AutoModelForImageTextToText.from_pretrained(str(model_dir), dtype=torch.float32)
        self.between = lambda: None  # set by the driver: runs the other trainers' scheduled steps
        self.on_step = lambda info: None  # set by the driver: receives each TRL step's numbers
        runner = self

        class Gate(TrainerCallback):
            def on_train_begin(self, args_, state, control, **kwargs):
                runner.between()
                runner._t0 = time.perf_counter()

            def on_step_end(self, args_, state, control, **kwargs):
                runner.on_step(runner._step_info(time.perf_counter() - runner._t0))
                runner.between()
                runner.timings = {}
                runner._t0 = time.perf_counter()

        self.trainer = GRPOTrainer(model=model, reward_funcs=sdbench_reward, args=config, train_dataset=dataset,
                                   processing_class=policy.processor, callbacks=[Gate()])
        self.trainer.remove_callback(PrinterCallback)  # the end-of-training summary line
        generate = self.trainer._generate_single_turn

        def timed_generate(*a, **kw):
            t0 = time.perf_counter()
            try:
                return generate(*a, **kw)
            finally:
                self.timings["generate"] = self.timings.get("generate", 0.0) + time.perf_counter() - t0

        self.trainer._generate_single_turn = timed_generate

    def _step_info(self, total: float) -> dict:
        rewards = self.trainer._metrics["train"].get("reward") or [float("nan")]
        gen, rew = self.timings.get("generate", 0.0), self.timings.get("reward", 0.0)
        return {"generate": gen, "reward": rew, "update": total - gen - rew, "reward_mean": rewards[-1],
                "tokens": self.tokens, "total": total}

    def train(self):
        self.trainer.train()


# ---- the benchmark ----------------------------------------------------------------------------------------------
def make_runner(name: str, args, task_dir: Path, model_dir: Path, workdir: Path):
    if name == "trl-grpo":
        return TrlRunner(args, task_dir, model_dir, workdir / "trl-out")
    return SdbenchRunner(args, task_dir, model_dir, name.removeprefix("sdbench-"))


def run_schedule(runners: list, total: int, on_step) -> None:
    """Round s runs every trainer's step s, the order rotated by s. With TRL among them its loop drives:
    the callback between two TRL steps runs the sdbench steps scheduled in between."""
    schedule = [(s, r) for s in range(total) for r in (runners[s % len(runners):] + runners[:s % len(runners)])]
    trl = next((r for r in runners if isinstance(r, TrlRunner)), None)
    trl_steps = iter(range(total))

    def run_until_trl():
        while schedule:
            s, r = schedule.pop(0)
            if r is trl:
                return
            t0 = time.perf_counter()
            info = r.step(s)
            info["total"] = time.perf_counter() - t0
            on_step(r, s, info)

    if trl is None:
        run_until_trl()
        return
    trl.between = run_until_trl
    trl.on_step = lambda info: on_step(trl, next(trl_steps), info)
    trl.train()
    run_until_trl()  # sdbench steps after TRL's last one


def run_child(args) -> None:
    """One trainer alone (memory measurement): print one JSON line."""
    import torch

    torch.set_num_threads(args.threads)
    workdir = Path(args.workdir)
    task_dir, model_dir = build_assets(args, workdir)
    sampler = RssSampler()
    runner = make_runner(args.child, args, task_dir, model_dir, workdir)
    before = rss_mb()
    sampler.start()
    run_schedule([runner], args.warmup + args.steps, lambda r, s, info: None)
    peak = sampler.stop()
    print(json.dumps({"trainer": args.child, "rss_before_mb": before, "peak_rss_mb": peak}))


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "(uptime unavailable)"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--task", choices=("multichart", "multipanel"), default="multichart")
    p.add_argument("--segments", type=int, default=2, help="K of every example (default 2)")
    p.add_argument("--prompts", type=int, default=2, help="P: prompts per step (default 2)")
    p.add_argument("--group-size", type=int, default=8, help="G: rollouts per prompt (default 8)")
    p.add_argument("--max-new-tokens", type=int, default=64, help="tokens per rollout, exactly (default 64)")
    p.add_argument("--steps", type=int, default=5, help="timed steps per trainer (default 5)")
    p.add_argument("--warmup", type=int, default=1, help="untimed warm-up steps per trainer (default 1)")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    p.add_argument("--hidden-size", type=int, default=256)
    p.add_argument("--num-layers", type=int, default=4)
    p.add_argument("--learning-rate", type=float, default=1e-5)
    p.add_argument("--micro-batch-size", type=int, default=8, help="sdbench rows per forward/backward (default 8)")
    p.add_argument("--reward", default=None, help="per-segment reward metric (default: the task's)")
    p.add_argument("--n-train", type=int, default=32, help="train examples to build (default 32)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--trainers", default=",".join(TRAINERS), help=f"comma-separated subset of {','.join(TRAINERS)}")
    p.add_argument("--memory", choices=("subprocess", "none"), default="subprocess")
    p.add_argument("--profile", default=None, choices=("sdbench-grpo", "sdbench-sd-grpo"),
                   help="cProfile this trainer's timed steps and print the top 30")
    p.add_argument("--workdir", default=None, help="folder for the task and model (default: a temp folder); "
                   "reused when it already holds them")
    p.add_argument("--json", default=None, help="write the raw per-step numbers here")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore")
    import logging

    logging.getLogger("transformers").setLevel(logging.ERROR)
    if args.child:
        run_child(args)
        return 0

    import torch

    torch.set_num_threads(args.threads)
    trainers = [t.strip() for t in args.trainers.split(",") if t.strip()]
    for t in trainers:
        if t not in TRAINERS:
            p.error(f"unknown trainer {t!r}; choose from {', '.join(TRAINERS)}")
    tmp = None
    if args.workdir:
        workdir = Path(args.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-trainer-")
        workdir = Path(tmp.name)
    t0 = time.perf_counter()
    print(f"load before: {uptime()}", flush=True)
    task_dir, model_dir = build_assets(args, workdir)
    info = json.loads((model_dir / "tiny_vlm.json").read_text())
    print(f"task {args.task} K={args.segments}, model qwen2_5_vl {args.hidden_size}x{args.num_layers} "
          f"({info['num_parameters'] / 1e6:.1f} M parameters, vocab {info['vocab_size']}); "
          f"P={args.prompts} G={args.group_size} B={args.prompts * args.group_size}, {args.max_new_tokens} new tokens, "
          f"{args.warmup} warm-up + {args.steps} timed steps, torch threads {args.threads}; "
          f"assets ready in {time.perf_counter() - t0:.0f}s", flush=True)
    runners = [make_runner(t, args, task_dir, model_dir, workdir) for t in trainers]
    print(f"trainers loaded ({time.perf_counter() - t0:.0f}s)", flush=True)
    results: dict[str, list[dict]] = {r.name: [] for r in runners}
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
    total = args.warmup + args.steps
    done: dict[int, list[str]] = {}

    def on_step(runner, s, info):
        info["threads"] = torch.get_num_threads()
        torch.set_num_threads(args.threads)
        if s >= args.warmup:
            results[runner.name].append(info)
        done.setdefault(s, []).append(f"{runner.name} {info['total']:.2f}s")
        if len(done[s]) == len(runners):
            print(f"  step {s + 1}/{total}" + ("" if s >= args.warmup else " (warm-up)") + ": " + "  ".join(done[s]),
                  flush=True)

    if profiler:  # profile one sdbench trainer's timed steps
        target = next((r for r in runners if r.name == args.profile), None)
        if target is None:
            p.error(f"--profile {args.profile}: not among --trainers")
        original = target.step

        def profiled(s):
            if s < args.warmup:
                return original(s)
            profiler.enable()
            try:
                return original(s)
            finally:
                profiler.disable()

        target.step = profiled
    run_schedule(runners, total, on_step)
    print(f"load after:  {uptime()}", flush=True)

    memory: dict[str, dict] = {}
    if args.memory == "subprocess":
        for t in trainers:
            cmd = [sys.executable, __file__, "--child", t, "--workdir", str(workdir), "--warmup", "1", "--steps", "1"]
            for flag in ("task", "segments", "prompts", "group_size", "max_new_tokens", "threads", "hidden_size",
                         "num_layers", "learning_rate", "micro_batch_size", "n_train", "seed"):
                cmd += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
            if args.reward:
                cmd += ["--reward", args.reward]
            out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
            line = next((ln for ln in reversed(out.stdout.splitlines()) if ln.startswith("{")), None)
            if out.returncode or line is None:
                print(f"memory run of {t} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
                continue
            memory[t] = json.loads(line)

    print()
    print("| trainer | s/step median | s/step mean | generate | reward | update | peak RSS MB | step growth MB |")
    print("|---|---|---|---|---|---|---|---|")
    med = {}
    for name, rows in results.items():
        totals = [r["total"] for r in rows]
        med[name] = statistics.median(totals)
        mem = memory.get(name)
        mem_cols = (f"{mem['peak_rss_mb']:.0f} | {mem['peak_rss_mb'] - mem['rss_before_mb']:.0f}" if mem
                    else "– | –")
        print(f"| {name} | {med[name]:.3f} | {statistics.mean(totals):.3f} | "
              f"{statistics.median(r['generate'] for r in rows):.3f} | "
              f"{statistics.median(r['reward'] for r in rows):.3f} | "
              f"{statistics.median(r['update'] for r in rows):.3f} | {mem_cols} |")
    print()

    def ratio(label: str, a: str, b: str, target: str) -> None:
        if a in med and b in med:
            paired = [x["total"] / y["total"] for x, y in zip(results[a], results[b])]
            print(f"{label}: {med[a] / med[b]:.3f} (ratio of the medians; per round "
                  f"{', '.join(f'{x:.2f}' for x in paired)}, their median {statistics.median(paired):.3f}; "
                  f"target {target})")

    ratio("sdbench GRPO / TRL GRPO", "sdbench-grpo", "trl-grpo", "<= 0.70")
    ratio("sdbench SD-GRPO / sdbench GRPO", "sdbench-sd-grpo", "sdbench-grpo", "<= 1.05")
    changed = sorted({r["threads"] for rows in results.values() for r in rows} - {args.threads})
    if changed:
        print(f"  warning: torch threads were {changed} after some steps (pinned to {args.threads} again each time)")
    for name, rows in results.items():
        gap = max(r.get("logprob_gap_max", float("nan")) for r in rows)
        extra = "" if gap != gap else f", logprob_gap_max {gap:.1e}"  # NaN: TRL (not recorded)
        print(f"  {name}: mean completion length {statistics.mean(r['tokens'] for r in rows):.1f}, "
              f"mean reward {statistics.mean(r['reward_mean'] for r in rows):.3f}{extra}")
    print(f"total {time.perf_counter() - t0:.0f}s")
    if profiler:
        import pstats

        print(f"\ncProfile of {args.profile} (timed steps):")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "steps": results, "memory": memory}, indent=2))
    if tmp:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
