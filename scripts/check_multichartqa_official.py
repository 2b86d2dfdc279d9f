"""Check: `sdbench score`'s multichartqa_official on a real MultiChartQA build equals the official code's score.

The official scorer is not part of sdbench (its repository has no license); point --official-code at the `code/`
folder of a checkout of github.com/Zivenzhu/Multi-chart-QA (commit 1129e12 has `mmmu_utils.py`). This script
imports that module and applies it question by question as `code/calculate_acc.py` (L172-191) does, to the text
sdbench's task README says is scored: the answers the labelled lines give, rebuilt as "Answer: a; b" in
question order, or the raw response when it has no label at all.

Responses (none written for the check by hand), one per example, cycling through five kinds:
  a  a model's outputs, when --outputs names an `sdbench eval` outputs.jsonl of this build
  b  another question's gold answer, in MultiChartQA's own format "Answer: <gold>" (no label)
  c  the example's labels, each followed by a random other sub-answer
  d  the example's labels with its own sub-answers in reversed order
  e  the labels alone
Multiple-choice responses for which the official parser would draw a random letter are left out (sdbench
scores them 0, its one documented deviation).

    python scripts/check_multichartqa_official.py --build runs/mcqa --official-code ~/Multi-chart-QA/code \\
        [--outputs runs/eval/x/outputs.jsonl]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path


def official_score(module, response: str, answer: str, question_type: str) -> float:
    """One question's score, as calculate_acc.py L172-191 computes it with the official module's functions."""
    if question_type == "multiple-choice":
        choices = ["A", "B", "C", "D"]
        index2ans = {c: f"Answer: {c}" for c in choices}
        chosen = module.parse_multi_choice_response(response, choices, index2ans)
        return module.eval_multi_choice([a.strip() for a in answer.split(";")], chosen)
    chosen = module.parse_open_response(response)
    value = module.eval_open(answer, chosen)
    if value != 1:
        value = module.eval_open([a.strip() for a in answer.split(";")], chosen)
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", type=Path, required=True, help="a multichart build from the multichartqa source")
    parser.add_argument("--official-code", type=Path, required=True, help="the official repository's code/ folder")
    parser.add_argument("--outputs", type=Path, help="an `sdbench eval` outputs.jsonl of this build (kind a)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    sys.path.insert(0, str(args.official_code))
    import mmmu_utils  # the official module

    from sdbench.data.task_data import load_task_data
    from sdbench.rewards.multichartqa_official import parse_multi_choice_response

    data = load_task_data(args.build)
    examples = {ex.id: ex for split in ("train", "test") if data.manifest["splits"][split]["count"]
                for ex in data.examples(split)}
    model = {}
    if args.outputs:
        model = {r["id"]: r["response"] for r in map(json.loads, args.outputs.read_text().splitlines())}
    rng = random.Random(args.seed)
    golds = [ex.meta["official_answer"] for ex in examples.values()]
    subs = [s.answer for ex in examples.values() for s in ex.segments]
    kinds, lines = {}, []
    for i, (eid, ex) in enumerate(sorted(examples.items())):
        kind = "abcde"[i % 5]
        kind = "b" if kind == "a" and eid not in model else kind
        if kind == "a":
            response = model[eid]
        elif kind == "b":
            response = f"Answer: {rng.choice(golds)}"
        elif kind == "c":
            response = "\n".join(f"{s.label} {rng.choice(subs)}" for s in ex.segments)
        elif kind == "d":
            response = "\n".join(f"{s.label} {a}" for s, a in zip(ex.segments, [s.answer for s in ex.segments][::-1]))
        else:
            response = "\n".join(s.label for s in ex.segments)
        kinds[eid] = kind
        lines.append(json.dumps({"id": eid, "response": response}))
    work = Path(tempfile.mkdtemp())
    (work / "p.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    subprocess.run([sys.executable, "-m", "sdbench.cli", "score", "--task", str(args.build), "--predictions",
                    str(work / "p.jsonl"), "--out", str(work / "s"), "--split", "all"], check=True,
                   stdout=subprocess.DEVNULL)

    agree, total, random_picks, by_kind = 0, 0, 0, {}
    for row in map(json.loads, (work / "s" / "scores.jsonl").read_text().splitlines()):
        ex = examples[row["id"]]
        if row["format"]["no_labels"] and not any(s["found"] for s in row["segments"]):
            text = row["response"]
        else:
            order = sorted(range(len(ex.segments)), key=lambda j: ex.segments[j].meta.get("question_index", j))
            text = "Answer: " + "; ".join(" ".join((row["segments"][j]["text"] or "").split()) for j in order)
        if ex.meta["type"] == "multiple-choice" and parse_multi_choice_response(text) is None:
            random_picks += 1  # the official parser would draw a letter at random here
            continue
        want = official_score(mmmu_utils, text, ex.meta["official_answer"], ex.meta["type"])
        got = row["metrics"]["multichartqa_official"]
        ok = abs(got - want) < 1e-12
        total, agree = total + 1, agree + ok
        n, same, mean = by_kind.get(kinds[row["id"]], (0, 0, 0.0))
        by_kind[kinds[row["id"]]] = (n + 1, same + ok, mean + got)
        if not ok:
            print(f"DIFFERENT {row['id']}: sdbench {got} official {want} on {text[:80]!r}")
    print(f"{args.build}: sdbench = official on {agree} of {total} responses "
          f"({random_picks} multiple-choice responses where the official code draws a random letter left out)")
    for kind, (n, same, mean) in sorted(by_kind.items()):
        print(f"  kind {kind}: {n} responses, {same} equal, mean score {mean / n:.3f}")
    return 0 if agree == total else 1


if __name__ == "__main__":
    raise SystemExit(main())
