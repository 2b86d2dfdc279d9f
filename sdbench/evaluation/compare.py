"""`sdbench compare`: one method against another, per K, paired, from results files — the benchmark's verdict.

    sdbench compare --results runs/pipeline/results --baseline grpo --treatment sd-grpo --metrics fact_f1,cider_d

Runs are paired twice. Over seeds: seed s of the treatment is compared with seed s of the baseline (same seed,
same prompts, same starting model: only the method differs), and the interval is the 95 % t-interval of the
per-seed differences (`stats.seed_ci`); this is the one that holds for a seed you did not run. Over examples:
each test example's difference, averaged over the paired seeds, bootstrapped over examples
(`stats.bootstrap_ci`); with one seed that is the only interval there is, and it says nothing about seed-to-seed
variance. The verdict reads the seed interval when there are at least two seeds, else the example interval.

Writes OUT/comparison.json (a list of rows, one per task x metric x K, 'all' last; keys below),
OUT/comparison.md and OUT/comparison.csv; prints the table. A row:

    {"task", "version", "source", "split", "model", "metric", "K", "baseline", "treatment", "<baseline>", "<treatment>",
     "difference", "ci_low", "ci_high", "n_seeds", "seeds", "per_seed_difference", "n_examples",
     "example_ci_low", "example_ci_high", "verdict"}

with "<baseline>" / "<treatment>" the method names with '-' as '_' (e.g. "grpo", "sd_grpo"): each method's mean
over seeds of its per-seed mean on the paired examples.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdbench.core.errors import SdbenchError


@dataclass(frozen=True)
class CompareConfig:
    """`sdbench compare`: the paired method-vs-method table per K from results files."""

    results: Path = Path("leaderboards/results")
    """Folder of results JSONs (searched recursively), as `sdbench eval` writes them."""
    baseline: str = "grpo"
    """Method compared against."""
    treatment: str = "sd-grpo"
    """Method whose difference from the baseline is reported (treatment − baseline)."""
    metrics: tuple[str, ...] = ()
    """Metrics to compare (default: each task's primary metric)."""
    task: str | None = None
    """Only this task (default: every task that has runs of both methods)."""
    out: Path | None = None
    """Where comparison.{json,md,csv} go (default: print only)."""

    def __post_init__(self):
        if self.baseline == self.treatment:
            raise SdbenchError(f"--baseline and --treatment are both {self.baseline!r}; name two methods")


def compare(cfg: CompareConfig) -> list[dict[str, Any]]:
    """Rows for every (task, version, source, split, model) that has seeds of both methods; printed, and written
    under cfg.out when given."""
    from sdbench.evaluation.leaderboard.runs import collect_runs

    runs, notes = collect_runs(cfg.results)
    for note in notes:
        print(f"note: {note.text}")
    rows = comparison_rows(runs, cfg.baseline, cfg.treatment, cfg.metrics, task=cfg.task)
    if not rows:
        found = sorted({run.results["method"] for run in runs})
        raise SdbenchError(f"--results {cfg.results}: no task has runs of both {cfg.baseline!r} and "
                           f"{cfg.treatment!r} (methods found: {found or 'none'}); evaluate both with `sdbench eval`")
    print(render_text(rows))
    if cfg.out is not None:
        write_comparison(rows, cfg.out)
        print(f"wrote {cfg.out / 'comparison.json'} (+ .md, .csv)")
    return rows


def comparison_rows(runs: list, baseline: str, treatment: str, metrics: tuple[str, ...] = (),
                    task: str | None = None, notes: list[str] | None = None) -> list[dict[str, Any]]:
    """The rows of `treatment` against `baseline` for every (task, version, source, split, model) group of
    `runs` (leaderboard.Run) holding both methods, paired by seed; metrics: default the primary metric. A group
    whose methods share no seed is left out with a note (appended to `notes`, else printed)."""
    groups: dict[tuple, dict[str, dict[int, Any]]] = {}
    for run in runs:
        r = run.results
        if task and r["task"]["name"] != task:
            continue
        key = (r["task"]["name"], r["task"]["version"], r["task"]["source"], r["task"]["split"], r["model"]["name"])
        groups.setdefault(key, {}).setdefault(r["method"], {})[r["seed"]] = run
    rows: list[dict[str, Any]] = []
    for (name, version, source, split, model), by_method in sorted(groups.items()):
        if baseline not in by_method or treatment not in by_method:
            continue
        base, treat = by_method[baseline], by_method[treatment]
        seeds = sorted(set(base) & set(treat))
        if not seeds:
            note = (f"{name} v{version}: {baseline} has seeds {sorted(base)}, {treatment} has {sorted(treat)}; no "
                    "seed is in both, so nothing can be paired")
            if notes is None:
                print(f"note: {note}")
            else:
                notes.append(note)
            continue
        for metric in metrics or (base[seeds[0]].results["primary_metric"],):
            pairs = [(_per_example(base[s], metric), _per_example(treat[s], metric)) for s in seeds]
            for row in paired_rows(pairs, seeds, metric, baseline, treatment):
                rows.append({"task": name, "version": version, "source": source, "split": split, "model": model,
                             **row})
    return rows


def paired_rows(pairs: list[tuple[dict[str, tuple[int, float]], dict[str, tuple[int, float]]]], seeds: list[int],
                metric: str, baseline: str, treatment: str) -> list[dict[str, Any]]:
    """The comparison per K (then 'all') from per-seed pairs of {example id: (K, value)} (baseline, treatment).

    Pure: seed s's difference at K is the mean over the examples both runs of seed s scored of (treatment −
    baseline); 'difference' is the mean over seeds, with the 95 % t-interval over seeds; the example interval
    bootstraps each example's seed-averaged difference (examples present in every pair)."""
    from sdbench.core.stats import bootstrap_ci, seed_ci

    common = set.intersection(*(set(b) & set(t) for b, t in pairs))
    if not common:
        raise SdbenchError(f"no test example has {metric!r} in both methods' outputs for every seed; evaluate the "
                           "runs on the same split with that metric (sdbench eval --metrics)")
    by_k: dict[str, list[str]] = {}
    for example_id in sorted(common):
        by_k.setdefault(str(pairs[0][0][example_id][0]), []).append(example_id)
    by_k = {k: by_k[k] for k in sorted(by_k, key=int)}
    by_k["all"] = sorted(common)
    b_key, t_key = method_key(baseline), method_key(treatment)
    rows = []
    for k, ids in by_k.items():
        base_means = [sum(b[i][1] for i in ids) / len(ids) for b, _ in pairs]            # (seeds,)
        treat_means = [sum(t[i][1] for i in ids) / len(ids) for _, t in pairs]           # (seeds,)
        per_seed = [t - b for b, t in zip(base_means, treat_means)]                       # (seeds,)
        example_diffs = [sum(t[i][1] - b[i][1] for b, t in pairs) / len(pairs) for i in ids]  # (examples,)
        seed_interval = seed_ci(per_seed)
        example_interval = bootstrap_ci(example_diffs)
        use = seed_interval if len(seeds) >= 2 else example_interval
        rows.append({
            "metric": metric, "K": int(k) if k != "all" else "all", "baseline": baseline, "treatment": treatment,
            b_key: sum(base_means) / len(seeds), t_key: sum(treat_means) / len(seeds),
            "difference": seed_interval["mean"], "ci_low": use["ci_low"], "ci_high": use["ci_high"],
            "interval": "seeds" if len(seeds) >= 2 else "examples",
            "n_seeds": len(seeds), "seeds": list(seeds), "per_seed_difference": per_seed, "n_examples": len(ids),
            "example_ci_low": example_interval["ci_low"], "example_ci_high": example_interval["ci_high"],
            "verdict": verdict(use["ci_low"], use["ci_high"], baseline, treatment)})
    return rows


def method_key(method: str) -> str:
    """The row key holding a method's mean: 'sd-grpo' -> 'sd_grpo'."""
    return method.replace("-", "_")


def verdict(ci_low: float | None, ci_high: float | None, baseline: str, treatment: str) -> str:
    """'<treatment> better' when the interval is above 0, '<baseline> better' below, else no difference."""
    if ci_low is not None and ci_low > 0:
        return f"{treatment} better"
    if ci_high is not None and ci_high < 0:
        return f"{baseline} better"
    return "no significant difference"


def _per_example(run, metric: str) -> dict[str, tuple[int, float]]:
    """{example id: (K, value)} of the greedy outputs of one results file (outputs JSONL beside it)."""
    outputs = run.path.parent / run.results["outputs"]
    if not outputs.is_file():
        raise SdbenchError(f"{run.path}: its outputs file {outputs} is missing; the comparison pairs test examples "
                           "by id, so it needs the outputs `sdbench eval` writes beside results.json")
    values: dict[str, tuple[int, float]] = {}
    for number, line in enumerate(outputs.read_text(encoding="utf-8").splitlines(), 1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise SdbenchError(f"{outputs}: line {number} is not JSON; re-run `sdbench eval` for this run") from None
        value = row.get("metrics", {}).get(metric)
        if isinstance(value, (int, float)) and math.isfinite(value) and row.get("sample", 0) == 0:
            values[row["id"]] = (int(row["num_segments"]), float(value))
    return values


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.3f}"


def render_text(rows: list[dict[str, Any]]) -> str:
    """The rows as aligned text, one block per (task, model, metric)."""
    lines: list[str] = []
    for key, block in _blocks(rows).items():
        task, version, _, _, model, metric = key[:6]
        first = block[0]
        b, t = first["baseline"], first["treatment"]
        seeds = first["n_seeds"]
        interval = ("95 % t-interval over the paired seeds" if seeds >= 2 else
                    "95 % bootstrap CI over test examples; 1 seed, so seed-to-seed variance is not in it")
        lines += [f"\n{t} vs {b} on {task} v{version} ({model}): {metric}, {seeds} paired seed(s) "
                  f"{first['seeds']}; difference = {t} − {b}, {interval}",
                  f"  {'K':>4} {'n':>4}  {b:>9}  {t:>9}  {'difference':>26}  {'example CI':>18}  verdict"]
        for row in block:
            ci = f"{_fmt(row['difference'])} [{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}]"
            example = f"[{_fmt(row['example_ci_low'])}, {_fmt(row['example_ci_high'])}]"
            lines.append(f"  {row['K']!s:>4} {row['n_examples']:>4}  {row[method_key(b)]:>9.3f}  "
                         f"{row[method_key(t)]:>9.3f}  {ci:>26}  {example:>18}  {row['verdict']}")
    return "\n".join(lines)


def render_markdown(rows: list[dict[str, Any]], level: int = 2) -> str:
    """One table per (task, model, metric, pair) under a heading of `level`."""
    out: list[str] = []
    for (task, version, _, _, model, metric, _, _), block in _blocks(rows).items():
        b, t = block[0]["baseline"], block[0]["treatment"]
        out += [f"{'#' * level} {t} vs {b}: {task} v{version}, {metric}", "",
                f"Model `{model}`; {block[0]['n_seeds']} paired seed(s) {block[0]['seeds']}; interval over "
                f"{block[0]['interval']}.", "",
                f"| K | n | {b} | {t} | difference | 95 % CI | example CI | verdict |", "|---|---|---|---|---|---|---|---|"]
        for row in block:
            out.append(f"| {row['K']} | {row['n_examples']} | {row[method_key(b)]:.3f} | "
                       f"{row[method_key(t)]:.3f} | {_fmt(row['difference'])} | "
                       f"[{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}] | "
                       f"[{_fmt(row['example_ci_low'])}, {_fmt(row['example_ci_high'])}] | {row['verdict']} |")
        out.append("")
    return "\n".join(out)


CSV_FIELDS = ("task", "version", "source", "split", "model", "metric", "K", "baseline", "treatment", "baseline_mean", "treatment_mean",
              "difference", "ci_low", "ci_high", "interval", "n_seeds", "n_examples", "example_ci_low",
              "example_ci_high", "verdict")


def render_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**{f: row.get(f) for f in CSV_FIELDS},
                         "baseline_mean": row[method_key(row["baseline"])],
                         "treatment_mean": row[method_key(row["treatment"])]})
    return buffer.getvalue()


def write_comparison(rows: list[dict[str, Any]], out: Path) -> list[Path]:
    """OUT/comparison.{json,md,csv}, each written atomically."""
    from sdbench.core.atomic import write_atomic

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"comparison.json": json.dumps(rows, indent=2) + "\n", "comparison.md": render_markdown(rows),
             "comparison.csv": render_csv(rows)}
    for name, text in files.items():
        write_atomic(out / name, text.encode("utf-8"))
    return [out / name for name in files]


def _blocks(rows: list[dict[str, Any]]) -> dict[tuple, list[dict[str, Any]]]:
    blocks: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        key = tuple(row.get(name, "?") for name in ("task", "version", "source", "split", "model"))
        blocks.setdefault((*key, row["metric"], row["baseline"], row["treatment"]), []).append(row)
    return blocks
