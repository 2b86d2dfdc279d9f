"""Reading a build: images decoded lazily per example, the --segments filter that train / eval / diagnose share."""

import pickle

import pytest

from sdbench.build_task import build_task
from sdbench.configs import BuildTaskConfig
from sdbench.errors import SdbenchError
from sdbench.task_data import LazyImages, load_task_data, with_segments


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("b") / "mc"
    return load_task_data(build_task(BuildTaskConfig(task="multichart", segments=(1, 3), n_train=0, n_test=4,
                                                     seed=0, options={"tile": "false"}, out=out), quiet=True))


def test_images_are_lazy_and_behave_as_the_tuple_they_stand_for(data):
    examples = list(data.examples("test"))
    ex = next(e for e in examples if e.num_segments == 3)
    assert isinstance(ex.images, LazyImages) and len(ex.images) == 3  # tile false: one image per chart
    eager = tuple(row["images"] for row in data.dataset("test") if row["id"] == ex.id)[0]
    decoded = list(ex.images)
    assert [img.mode for img in decoded] == ["RGB"] * 3
    assert [img.tobytes() for img in decoded] == [img.convert("RGB").tobytes() for img in eager]
    assert ex.images[-1].tobytes() == decoded[2].tobytes() and len(ex.images[1:]) == 2
    with pytest.raises(IndexError):
        ex.images[3]
    assert ex.images == tuple(decoded) and ex == next(e for e in data.examples("test") if e.id == ex.id)
    assert pickle.loads(pickle.dumps(ex)).images[0].tobytes() == decoded[0].tobytes()  # e.g. to a worker process


def test_with_segments_keeps_the_k_asked_for_and_notes_the_absent(data, capsys):
    examples = list(data.examples("test"))
    assert with_segments(examples, (), "x") == examples
    kept = with_segments(examples, (3, 8), "build: split 'test'")
    assert kept and all(e.num_segments == 3 for e in kept)
    assert "note: build: split 'test' has no example with K=[8]; using K=[3]" in capsys.readouterr().err
    with pytest.raises(SdbenchError, match=r"split 'test' has no example with K=\[2, 8\] \(it has K=\[1, 3\]\)"):
        with_segments(examples, (2, 8), "build: split 'test'")


def test_a_stored_image_that_does_not_decode_is_one_line_naming_the_build(tmp_path):
    import pyarrow as pa

    column = pa.chunked_array([[[{"bytes": b"\x89PNG not an image", "path": None}]]])
    images = LazyImages(column, 0, 1, tmp_path / "build", "test")
    with pytest.raises(SdbenchError, match=r"build/data/test: the image of example row 0 does not decode .*rebuild"):
        list(images)
