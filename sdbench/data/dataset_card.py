"""The dataset card (README.md) of a build folder: what it holds, where it comes from, how to load it."""

from __future__ import annotations

import json
from typing import Any

from sdbench.data.task import TaskSpec


def dataset_card(manifest: dict[str, Any], spec: TaskSpec) -> str:
    """A Hugging Face-style card (YAML header, then Markdown) from a build's manifest and its task spec."""
    source = spec.sources[manifest["source"]["name"]]
    task, config = manifest["task"], manifest["config"]
    splits = {name: s for name, s in manifest["splits"].items() if s["count"]}
    header = ["---", f"pretty_name: sdbench {task['name']} v{task['version']} ({source.name})",
              f"license: {_yaml(source.license or 'see the source' if source.kind == 'real' else 'Apache-2.0')}",
              "task_categories: [image-to-text]", "tags: [sdbench, segment-level-rewards, vision-language]",
              "configs:", "- config_name: default", "  data_files:"]
    header += [f"  - split: {name}\n    path: data/{name}/*.arrow" for name in splits]
    header.append("---")
    rows = [f"| {name} | {s['count']} | {', '.join(f'K={k}: {c}' for k, c in s['k_histogram'].items())} | "
            f"{s['num_skipped']} |" for name, s in manifest["splits"].items()]
    options = ", ".join(f"{k}={v}" for k, v in sorted((config.get("options") or {}).items())) or "none"
    origin = (f"Real data read from a local copy ({source.layout}); {source.description}."
              + (f" Citation: {source.citation}." if source.citation else "")
              + (f" Home: {source.url}." if source.url else "")
              if source.kind == "real" else
              f"Synthetic, generated offline by sdbench ({source.description}); seed {manifest['seed']}, options: "
              f"{options}.")
    option_args = " ".join(f"{k} {_cli(v)}" for k, v in sorted((config.get("options") or {}).items()))
    command = (f"sdbench build-task {task['name']} --source {source.name} --segments "
               f"{','.join(map(str, config['segments']))} --n-train {config['n_train']} --n-test {config['n_test']} "
               f"--seed {manifest['seed']}" + (" --path DIR" if source.kind == "real" else "")
               + (f" --options {option_args}" if option_args else ""))
    body = [
        f"# sdbench task data: {task['name']} v{task['version']}, source {source.name}", "",
        spec.description[:1].upper() + spec.description[1:] + ".", "",
        f"Every example is one prompt with its image(s) and K ordered segments (labels `{task['segment_label']}`), "
        "each with its own reference: the unit that SD-GRPO rewards separately.", "",
        "| split | examples | K histogram | skipped records |", "|---|---|---|---|", *rows, "",
        "## Origin", "", origin, "",
        "## Load it", "", "```python",
        "from sdbench.data.task_data import load_task_data  # examples with decoded images, checked against the manifest",
        "data = load_task_data(\"THIS_FOLDER\")",
        "examples = list(data.examples(\"test\"))", "",
        "import datasets                                    # or the stored Arrow tables as they are",
        "splits = datasets.load_from_disk(\"THIS_FOLDER/data\")  # DatasetDict: " + ", ".join(splits), "```", "",
        "Columns: id, images (PNG bytes), prompt, num_segments, segments (index, label, reference, answer, facts, "
        "meta as JSON), holistic_reference, shared_context, meta (JSON).", "",
        "## Provenance", "",
        f"- content hash (over decoded examples): `{manifest['content_hash']}`",
        f"- code hash (task definition, hooks, generators): `{manifest.get('code_hash', '?')}`",
        f"- sdbench {manifest['provenance'].get('sdbench_version', '?')}, git "
        f"{str(manifest['provenance'].get('git_sha', '?'))[:12]}",
        f"- rebuilt, byte for byte, by: `{command}`", "",
        "`manifest.json` beside this card records all of it, with each stored file's size and hash.", ""]
    return "\n".join(header + body)


def _cli(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool | int | float) else str(value)


def _yaml(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
