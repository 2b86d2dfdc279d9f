"""`sdbench export-lmms-eval` without lmms-eval: the exported YAML, its names and hooks, and the errors.

The exported utils.py gives per example what sdbench's Scorer gives, and pooled over examples what `sdbench score`
writes into summary.json. tests/optional/test_lmms_eval_export.py runs the real lmms-eval (`make test-lmms-eval`).
"""

import importlib.util
import json

import pytest
import yaml

from sdbench.cli import main
from sdbench.commands.lmms_eval_export import ExportLmmsEvalConfig, export_lmms_eval, lmms_eval_command
from sdbench.core.errors import SdbenchError
from sdbench.data.build_task import BuildTaskConfig, build_task
from sdbench.data.scoring import Scorer
from sdbench.data.task import load_task
from sdbench.data.task_data import load_task_data
from sdbench.evaluation.score import ScoreConfig, score
from sdbench.integrations.lmms_eval import (EXPORT_FILE, ExportedTask, example_metrics, pooled_mean,
                                            predictions_from_samples, summary_metrics)


class _LmmsYamlLoader(yaml.SafeLoader):
    """safe_load plus lmms-eval's `!function module.name` tag, read as ('function', 'module.name')."""


_LmmsYamlLoader.add_constructor("!function", lambda loader, node: ("function", loader.construct_scalar(node)))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("lmms")
    task = build_task(BuildTaskConfig(task="multipanel", segments=(1, 2), n_train=0, n_test=4, seed=0,
                                      out=root / "task"), quiet=True)
    out = export_lmms_eval(ExportLmmsEvalConfig(task=task, out=root / "export", max_new_tokens=64))
    return task, out


def _utils(folder):
    spec = importlib.util.spec_from_file_location("utils", folder / "utils.py")  # as lmms-eval loads it
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _responses(examples):
    """Hand-written outputs: perfect, empty, only the first segment, unlabeled text with stray whitespace."""
    perfect, empty, partial, stray = examples[0], examples[1], examples[2], examples[3]
    return {perfect.id: perfect.holistic_reference, empty.id: "",
            partial.id: f"{partial.segments[0].label} {partial.segments[0].reference}",
            stray.id: "  a large red circle in the center \n\n"}


def assert_same_numbers(got: dict, want: dict) -> None:
    """Same keys; None where None; numbers (and lists of numbers) equal to float round-off: the embedding model
    encodes a batch of one (process_results) and a batch of all (`sdbench score`), which moves the last bits."""
    assert got.keys() == want.keys()
    for key, value in want.items():
        if value is None:
            assert got[key] is None, key
        else:
            assert got[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key


def test_exported_yaml_names_fields_and_functions(exported):
    task, out = exported
    name = "sdbench_multipanel"
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "data", EXPORT_FILE, f"{name}.yaml", "utils.py"]
    cfg = yaml.load((out / f"{name}.yaml").read_text(), Loader=_LmmsYamlLoader)
    layout = ExportedTask(out).layout
    assert cfg["task"] == name and cfg["test_split"] == "test" and cfg["output_type"] == "generate_until"
    data_file = cfg["dataset_kwargs"]["data_files"]["test"]
    assert cfg["dataset_path"] == "parquet" and data_file == str(out / "data" / "test.parquet")
    assert cfg["generation_kwargs"] == {"max_new_tokens": 64, "temperature": 0, "do_sample": False, "until": []}
    assert cfg["metadata"] == {"version": 2, "sdbench_task": "multipanel"}
    assert [m["metric"] for m in cfg["metric_list"]] == list(layout.names)
    pooled = ("function", "utils.pooled_mean")
    assert all(m["aggregation"] == pooled and m["higher_is_better"] for m in cfg["metric_list"])
    assert layout.metrics[:3] == ("fact_f1", "fact_precision", "fact_recall") and layout.ks == (1, 2)
    assert {"holistic_reward", "segment_reward", "fact_f1_k2", "holistic_reward_k1", "fact_f1_pos2"} <= {*layout.names}
    utils = _utils(out)
    for key in ("doc_to_visual", "doc_to_text", "process_results"):
        kind, ref = cfg[key]
        assert kind == "function" and callable(getattr(utils, ref.split(".", 1)[1]))
    info = json.loads((out / EXPORT_FILE).read_text())
    manifest = load_task_data(task).manifest
    assert info["task"] | {"build_folder": None} == {"name": "multipanel", "version": 2, "source": "synthetic",
                                                     "split": "test", "content_hash": manifest["content_hash"],
                                                     "build_folder": None}
    assert lmms_eval_command(name, out) in (out / "README.md").read_text()


def test_doc_hooks_give_pil_images_and_sdbench_prompt(exported, tmp_path):
    from datasets import load_dataset
    from PIL import Image

    task, out = exported
    cfg = yaml.load((out / "sdbench_multipanel.yaml").read_text(), Loader=_LmmsYamlLoader)
    docs = load_dataset(cfg["dataset_path"], cache_dir=str(tmp_path), **cfg["dataset_kwargs"])["test"]  # as lmms-eval
    utils = _utils(out)
    examples = list(load_task_data(task).examples("test"))
    assert [d["id"] for d in docs] == [ex.id for ex in examples]
    for doc, ex in zip(docs, examples):
        images = utils.doc_to_visual(doc)
        assert all(isinstance(img, Image.Image) and img.mode == "RGB" for img in images)
        assert [img.tobytes() for img in images] == [img.tobytes() for img in ex.images]
        assert utils.doc_to_text(doc) == utils.doc_to_text(doc, {"pre_prompt": "ignored"}) == ex.prompt


def test_process_results_equals_scorer_and_sdbench_score(exported, tmp_path):
    task, out = exported
    data = load_task_data(task)
    examples = list(data.examples("test"))
    responses = _responses(examples)
    utils = _utils(out)
    docs = [{"id": ex.id, "prompt": ex.prompt} for ex in examples]  # lmms-eval passes the doc without its images
    # lmms-eval strips each output before process_results; sdbench scores the raw text: the numbers agree
    per_doc = [utils.process_results(doc, [responses[doc["id"]].strip()]) for doc in docs]

    layout = ExportedTask(out).layout
    scorer = Scorer(load_task("multipanel"), "synthetic", examples)
    scores = scorer.score(examples, [responses[ex.id] for ex in examples])
    for got, want in zip(per_doc, scores):
        assert got.keys() == set(layout.names)
        assert_same_numbers(got, example_metrics(want, layout))
    assert per_doc[0]["fact_f1"] == 1.0 and per_doc[1]["fact_f1"] == 0.0
    assert per_doc[2]["segments_found_per_expected"][0] == 1.0 and per_doc[0]["outputs_all_segments_found"] == 1.0

    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps({"id": i, "response": r}) + "\n" for i, r in responses.items()))
    summary = score(ScoreConfig(task=task, predictions=preds, out=tmp_path / "scores", strict=True))
    want = summary_metrics(summary["splits"]["test"], layout)
    got = {name: pooled_mean([d[name] for d in per_doc]) for name in layout.names}
    assert_same_numbers(got, want)
    assert want["fact_f1"] > 0 and want["segment_reward"] > 0 and want["fact_f1_pos2"] is not None


def test_predictions_from_samples_maps_doc_ids_to_example_ids(exported, tmp_path):
    task, out = exported
    ids = [ex.id for ex in load_task_data(task).examples("test")]
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({"doc_id": 2, "filtered_resps": ["two"]}) + "\n"
                       + json.dumps({"doc_id": "0", "filtered_resps": "zero "}) + "\n")
    assert predictions_from_samples(samples, out, tmp_path / "p.jsonl") == 2
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert rows == [{"id": ids[2], "response": "two"}, {"id": ids[0], "response": "zero "}]


def test_bad_inputs_are_clear_errors(exported, tmp_path, capsys):
    task, out = exported
    with pytest.raises(SdbenchError, match="no such folder"):
        export_lmms_eval(ExportLmmsEvalConfig(task=tmp_path / "missing", out=tmp_path / "o1"))
    (tmp_path / "unbuilt").mkdir()
    with pytest.raises(SdbenchError, match="no manifest.json"):
        export_lmms_eval(ExportLmmsEvalConfig(task=tmp_path / "unbuilt", out=tmp_path / "o2"))
    with pytest.raises(SdbenchError, match="--overwrite"):
        export_lmms_eval(ExportLmmsEvalConfig(task=task, out=out))
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    with pytest.raises(SdbenchError, match="not written by"):
        export_lmms_eval(ExportLmmsEvalConfig(task=task, out=tmp_path / "foreign", overwrite=True))
    with pytest.raises(SdbenchError, match="pass --task BUILD_DIR and --out DIR"):
        ExportLmmsEvalConfig(task=task)
    with pytest.raises(SdbenchError, match="exported split does not have"):
        ExportedTask(out).process_results({"id": "ghost"}, ["x"])
    assert main(["export-lmms-eval", "--task", str(tmp_path / "unbuilt"), "--out", str(tmp_path / "o3")]) == 2
    assert "sdbench export-lmms-eval: error:" in capsys.readouterr().err and not (tmp_path / "o3").exists()


def test_overwrite_replaces_an_earlier_export(exported, tmp_path):
    task, _ = exported
    first = export_lmms_eval(ExportLmmsEvalConfig(task=task, out=tmp_path / "e", name="mine"))
    again = export_lmms_eval(ExportLmmsEvalConfig(task=task, out=tmp_path / "e", overwrite=True, max_new_tokens=8))
    assert first == again and not (again / "mine.yaml").exists() and (again / "sdbench_multipanel.yaml").is_file()
