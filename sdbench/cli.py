"""The `sdbench` command: routes a subcommand to (config class, run function). No logic lives here.

    sdbench build-task multipanel --segments 1,2,4,8 --n-train 1000 --seed 0 --out runs/mp
    sdbench show runs/mp
    sdbench pipeline
    sdbench <command> --config FILE.yaml [--field value …]     # YAML first, flags override
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from sdbench.core.errors import SdbenchError

COMMA_LISTS = {"--segments", "--rl-segments", "--tasks", "--metrics", "--correlations", "--methods", "--lambdas",
               "--outside-rules", "--experiments", "--hybrid-segments", "--hybrid-methods", "--also-compare"}
POSITIONAL = {"build-task": "task", "show": "folder"}


def _commands() -> dict[str, tuple[type, Callable[[Any], Any], str]]:
    from sdbench.commands.lmms_eval_export import ExportLmmsEvalConfig, export_lmms_eval
    from sdbench.commands.pipeline import PipelineConfig, pipeline
    from sdbench.commands.show import ShowConfig, show
    from sdbench.commands.simulate import SimulateConfig, simulate
    from sdbench.data.build_task import BuildTaskConfig, build_task
    from sdbench.evaluation.compare import CompareConfig, compare
    from sdbench.evaluation.diagnose import DiagnoseConfig, diagnose
    from sdbench.evaluation.evaluate import EvalConfig, evaluate
    from sdbench.evaluation.leaderboard.command import LeaderboardConfig, leaderboard
    from sdbench.evaluation.score import ScoreConfig, score
    from sdbench.rl.train_config import TrainConfig
    from sdbench.rl.trainer import train

    return {
        "build-task": (BuildTaskConfig, build_task, "build a task's data from a source"),
        "show": (ShowConfig, show, "print examples of a built task and write a contact sheet"),
        "train": (TrainConfig, train, "train a policy: --method sft | grpo | dr-grpo | sd-grpo | sd-dr-grpo | hybrid"),
        "eval": (EvalConfig, evaluate, "generate on a task's test split, score, write results.json with provenance"),
        "diagnose": (DiagnoseConfig, diagnose, "measure credit misattribution vs K beside the closed form"),
        "simulate": (SimulateConfig, simulate,
                     "credit-assignment simulator: misattribution vs K, steps to target vs K, hybrid λ sweep"),
        "score": (ScoreConfig, score, "score your own model's outputs (JSONL) against a built task"),
        "export-lmms-eval": (ExportLmmsEvalConfig, export_lmms_eval,
                             "write an lmms-eval task folder (YAML + hooks) that scores with sdbench"),
        "leaderboard": (LeaderboardConfig, leaderboard,
                        "aggregate results JSONs into per-task-version boards (table|markdown|csv|html) and plots"),
        "compare": (CompareConfig, compare,
                    "one method against another per K, paired over seeds and test examples, from results files"),
        "pipeline": (PipelineConfig, pipeline, "run the main job end to end on the embedded default"),
    }


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--version"]:
        import sdbench
        from sdbench.core.provenance import git_sha

        sha = git_sha()
        print(f"sdbench {sdbench.__version__}" + (f" (git {sha})" if sha else ""))
        return 0
    commands = _commands()
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in commands:
        lines = [f"  {name:<16} {help_}" for name, (_, _, help_) in commands.items()]
        if argv and argv[0] not in ("-h", "--help"):
            from sdbench.core.errors import did_you_mean

            print(f"sdbench: unknown command {argv[0]!r}{did_you_mean(argv[0], commands)}", file=sys.stderr)
        print("usage: sdbench COMMAND [--config FILE.yaml] [--field value …]\n\ncommands:\n" + "\n".join(lines)
              + "\n\n`sdbench COMMAND --help` lists a command's options.")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    name, rest = argv[0], argv[1:]
    config_cls, run, _ = commands[name]
    try:
        cfg = parse_config(name, config_cls, rest)
        run(cfg)
    except SdbenchError as exc:
        print(f"sdbench {name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sdbench {name}: interrupted", file=sys.stderr)
        return 130
    return 0


def parse_config(name: str, config_cls: type, args: list[str]) -> Any:
    """--config YAML as defaults, then flags. A leading bare word is the command's positional field."""
    import tyro

    from sdbench.core.config import load_config

    args = _expand_comma_lists(args)
    default = None
    if "--config" in args:
        i = args.index("--config")
        if i + 1 >= len(args):
            raise SdbenchError("--config needs a file path")
        default = load_config(config_cls, args[i + 1])
        args = args[:i] + args[i + 2:]
    if args and not args[0].startswith("-") and name in POSITIONAL:
        args = [f"--{POSITIONAL[name]}", *args]
    kwargs = {"default": default} if default is not None else {}
    return tyro.cli(config_cls, args=args, prog=f"sdbench {name}", **kwargs)


def _expand_comma_lists(args: list[str]) -> list[str]:
    """'--segments 1,2,4' -> '--segments 1 2 4' (both spellings work)."""
    out: list[str] = []
    expand = False
    for arg in args:
        if expand and not arg.startswith("--"):
            out.extend(p for p in arg.split(",") if p)
            continue
        name = arg.split("=", 1)[0]
        expand = name in COMMA_LISTS
        if expand and "=" in arg:
            out.append(name)
            out.extend(p for p in arg.split("=", 1)[1].split(",") if p)
        else:
            out.append(arg)
    return out


if __name__ == "__main__":
    sys.exit(main())
