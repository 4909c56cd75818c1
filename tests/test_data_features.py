"""The features folder format: writing in chunks, resume records, opening checks, and the batch source."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest

from dnabench.data.features import (
    ARRAY_FILE,
    META_FILE,
    PROGRESS_FILE,
    FeatureError,
    FeatureSet,
    FeatureSource,
    FeatureWriter,
    open_features,
    partial_path,
    start_features,
    store_card_sha256,
)
from dnabench.data.loader import batch_loader
from dnabench.data.store import CSRLabels, write_store

ROWS, S, D = 12, 3, 4


def make_store(path, csr=False, seed=0):
    rng = np.random.default_rng(seed)
    sequences = ["".join(rng.choice(list("ACGT"), 8)) for _ in range(ROWS)]
    regions = pd.DataFrame({"chrom": "chr1", "start": np.arange(ROWS) * 10, "end": np.arange(ROWS) * 10 + 8, "strand": "+",
                            "sequence": sequences, "split": ["train"] * 8 + ["val"] * 2 + ["test"] * 2})
    if csr:
        dense = (rng.random((ROWS, 3)) < 0.4).astype(np.float32)
        card = {"task": "toy", "labels": {"names": ["a", "b", "c"], "kind": "multilabel"}}
        return write_store(path, card, regions, CSRLabels.from_dense(dense)), dense
    labels = rng.normal(size=(ROWS, 2)).astype(np.float32)
    card = {"task": "toy", "labels": {"names": ["t1", "t2"], "kind": "regression"}}
    return write_store(path, card, regions, labels), labels


def meta_for(store, shape=(ROWS, S, D), dtype="float32", **changes):
    meta = {
        "kind": "segmented", "shape": list(shape), "dtype": dtype, "store": str(store.path.absolute()),
        "store_card_sha256": store_card_sha256(store.path), "backbone": "/models/bb", "backbone_sha256": "ab" * 32,
        "backbone_model": "transformer", "input_length": 200, "pair": None, "reverse_complement": False, "rows": ROWS,
        "precision": "float32",
    }
    return {**meta, **changes}


def write_all(out, meta, values, chunk=5):
    writer = start_features(out, meta)
    assert isinstance(writer, FeatureWriter)
    for start in range(writer.done, ROWS, chunk):
        writer.write(start, values[start : start + chunk])
    return writer.finish()


@pytest.fixture()
def store(tmp_path):
    return make_store(tmp_path / "store")


def values(seed=1):
    return np.random.default_rng(seed).normal(size=(ROWS, S, D)).astype(np.float32)


def test_written_in_chunks_and_opened_read_only(tmp_path, store):
    s, _ = store
    want = values()
    path = write_all(tmp_path / "f", meta_for(s), want)
    assert path == (tmp_path / "f").absolute() and sorted(p.name for p in path.iterdir()) == [META_FILE, ARRAY_FILE]
    assert not partial_path(path).exists()
    got = open_features(path)
    assert isinstance(got, FeatureSet) and got.kind == "segmented" and got.store_path == s.path.absolute()
    assert got.meta["format"] == "dnabench-features" and got.meta["version"] == 1 and got.rows == ROWS
    assert (got.segments, got.input_size) == (S, D)
    np.testing.assert_array_equal(got.array, want)
    with pytest.raises(ValueError):
        got.array[0, 0, 0] = 1.0  # read-only memmap


def test_resume_continues_from_the_last_recorded_chunk(tmp_path, store):
    s, _ = store
    want, out = values(), tmp_path / "f"
    writer = start_features(out, meta_for(s))
    writer.write(0, want[:5])
    writer.write(5, want[5:10])
    record = json.loads((partial_path(out) / PROGRESS_FILE).read_text())
    assert record["done"] == 10 and record["meta"]["shape"] == [ROWS, S, D]
    del writer  # a killed process
    again = start_features(out, meta_for(s))
    assert isinstance(again, FeatureWriter) and again.done == 10
    with pytest.raises(ValueError, match="chunk starts at row 5, but 10 rows are written"):
        again.write(5, want[5:10])
    with pytest.raises(ValueError, match="10 of 12 rows written"):
        again.finish()
    again.write(10, want[10:])
    np.testing.assert_array_equal(open_features(again.finish()).array, want)
    finished = start_features(out, meta_for(s))
    assert isinstance(finished, FeatureSet)  # reused, not recomputed


def test_other_features_or_partials_need_overwrite(tmp_path, store):
    s, _ = store
    out = tmp_path / "f"
    write_all(out, meta_for(s), values())
    with pytest.raises(FileExistsError, match="holds other features .*reverse_complement False vs True"):
        start_features(out, meta_for(s, reverse_complement=True))
    writer = start_features(out, meta_for(s, reverse_complement=True), overwrite=True)
    for start in range(0, ROWS, 6):
        writer.write(start, values(2)[start : start + 6])
    writer.finish()
    np.testing.assert_array_equal(open_features(out).array, values(2))
    part = tmp_path / "g"
    start_features(part, meta_for(s)).write(0, values()[:4])
    with pytest.raises(FileExistsError, match="unfinished extraction with other arguments .*dtype 'float32' vs 'float16'"):
        start_features(part, meta_for(s, dtype="float16"))
    fresh = start_features(part, meta_for(s, dtype="float16"), overwrite=True)
    assert fresh.done == 0 and fresh.array.dtype == np.float16


def test_overwrite_never_replaces_a_folder_dnabench_did_not_write(tmp_path, store):
    s, _ = store
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "data.csv").write_text("x\n")
    with pytest.raises(FileExistsError, match="not a dnabench features folder"):
        start_features(mine, meta_for(s), overwrite=True)
    with pytest.raises(FileExistsError, match="already exists"):
        start_features(mine, meta_for(s))
    assert (mine / "data.csv").is_file() and not partial_path(mine).exists()
    partial_path(tmp_path / "h").mkdir()
    with pytest.raises(FileExistsError, match="not a partial extraction of dnabench"):
        start_features(tmp_path / "h", meta_for(s), overwrite=True)


def test_open_names_what_is_wrong(tmp_path, store):
    s, _ = store
    with pytest.raises(FileNotFoundError, match="no such features folder"):
        open_features(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FeatureError, match=r"not a features folder \(no features.json\)"):
        open_features(tmp_path / "empty")
    path = write_all(tmp_path / "f", meta_for(s), values())
    meta_text = (path / META_FILE).read_text()
    (path / META_FILE).write_text(meta_text[:40])
    with pytest.raises(FeatureError, match="features.json: damaged, not valid JSON"):
        open_features(path)
    meta = json.loads(meta_text)
    (path / META_FILE).write_text(json.dumps({**meta, "version": 9}))
    with pytest.raises(FeatureError, match="version 9, this dnabench reads version 1 .*upgrade"):
        open_features(path)
    (path / META_FILE).write_text(json.dumps({**meta, "shape": [ROWS, S, D + 1]}))
    with pytest.raises(FeatureError, match=r"features.npy: float32 \[12, 3, 4\], but features.json says float32 \[12, 3, 5\]"):
        open_features(path)
    (path / META_FILE).write_text(meta_text)
    (path / ARRAY_FILE).write_bytes((path / ARRAY_FILE).read_bytes()[:100])
    with pytest.raises(FeatureError, match="features.npy: not a readable .npy file"):
        open_features(path)
    (path / ARRAY_FILE).unlink()
    with pytest.raises(FeatureError, match="features.npy: missing"):
        open_features(path)


def test_a_store_changed_since_extraction_is_refused(tmp_path):
    s, _ = make_store(tmp_path / "store")
    path = write_all(tmp_path / "f", meta_for(s), values())
    make_store(tmp_path / "other", seed=5)
    import shutil

    shutil.rmtree(tmp_path / "store")
    shutil.copytree(tmp_path / "other", tmp_path / "store")
    with pytest.raises(FeatureError, match="changed since these features were extracted"):
        open_features(path)
    assert open_features(path, check_store=False).rows == ROWS
    shutil.rmtree(tmp_path / "store")
    with pytest.raises(FileNotFoundError, match="its store .* is gone"):
        open_features(path)


def test_source_gives_float32_rows_and_store_labels(tmp_path, store):
    s, labels = store
    want = values()
    source = FeatureSource(write_all(tmp_path / "f", meta_for(s, dtype="float16"), want.astype(np.float16)))
    rows = np.array([7, 2, 11, 2])
    got = source.codes(rows)
    assert got.dtype == np.float32 and got.shape == (4, S, D)
    np.testing.assert_array_equal(got, want.astype(np.float16).astype(np.float32)[rows])
    np.testing.assert_array_equal(source.labels(rows), labels[rows])
    np.testing.assert_array_equal(source.codes(rows, shifts=np.zeros(4, int), flips=np.zeros(4, bool)), got)
    with pytest.raises(ValueError, match="cannot be shifted"):
        source.codes(rows, shifts=np.array([0, 1, 0, 0]))
    with pytest.raises(ValueError, match="cannot be reverse-complemented"):
        source.codes(rows, flips=np.array([True, False, False, False]))
    clone = pickle.loads(pickle.dumps(source))
    np.testing.assert_array_equal(clone.codes(rows), got)
    batch = next(iter(batch_loader(source, s.split_indices("train"), 4, shuffle=False)))
    assert batch["codes"].dtype.is_floating_point and tuple(batch["codes"].shape) == (4, S, D)
    np.testing.assert_array_equal(batch["labels"].numpy(), labels[:4])


def test_source_keeps_sparse_labels_sparse(tmp_path):
    s, dense = make_store(tmp_path / "store", csr=True)
    source = FeatureSource(write_all(tmp_path / "f", meta_for(s), values()))
    assert source.sparse_labels
    counts, columns = source.label_pieces(np.arange(ROWS))
    assert counts.sum() == dense.sum() and columns.size == int(dense.sum())
    np.testing.assert_array_equal(source.labels(np.arange(ROWS)), dense.astype(np.uint8))
