"""Batch loader: shift and reverse-complement augmentation, deterministic per batch, training only."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from dnabench.alphabet import reverse_complement
from dnabench.data.dataset import StoreDataset, StoreSource, binary_rows, make_loader
from dnabench.data.store import CSRLabels, write_store
from dnabench.training.config import TrainConfig
from dnabench.data.loader import BatchDataset, BatchSource, EpochBatchSampler, batch_loader, dense_labels
from dnabench.data.tables import TableSource
from dnabench.data.task import LabelKind, LabelSet, table_spec
from dnabench.training.data import TrainingData, split_loaders

LENGTH = 50


@pytest.fixture(scope="module")
def store(tmp_path_factory, genome):
    rng = np.random.default_rng(0)
    n = 60
    chrom = rng.choice(["chr1", "chr2"], size=n)
    start = rng.integers(0, 11_000, size=n)
    chrom[:3], start[:3] = "chr2", [0, 2, genome.length("chr2") - LENGTH]  # shifts reach past an end: N fill
    regions = pd.DataFrame(
        {"chrom": chrom, "start": start, "end": start + LENGTH, "strand": rng.choice(["+", "-"], size=n),
         "split": np.where(np.arange(n) < 40, "train", np.where(np.arange(n) < 50, "val", "test"))}
    )
    dense = (rng.random((n, 30)) < 0.1).astype(np.float32)
    card = {"task": "toy", "input_length": LENGTH, "labels": {"names": [f"l{i}" for i in range(30)], "kind": "multilabel", "groups": {}}}
    return write_store(tmp_path_factory.mktemp("loader_store") / "s", card, regions, CSRLabels.from_dense(dense)), dense


def expected_window(store, genome, row: int, shift: int, flip: bool) -> np.ndarray:
    r = store.regions.iloc[row]
    codes = genome.fetch(str(r["chrom"]), int(r["start"]) + shift, int(r["end"]) + shift, str(r["strand"]))
    return reverse_complement(codes) if flip else codes


def test_augmentation_draws_are_a_function_of_seed_epoch_batch():
    sampler = EpochBatchSampler(np.arange(100), 10, shuffle=True, seed=3)
    ds = BatchDataset(None, sampler, reverse_complement=True, seed=3, max_shift=4)  # type: ignore[arg-type]
    flip, shifts = ds.augmentation(2, 5, 10)
    again = BatchDataset(None, sampler, reverse_complement=True, seed=3, max_shift=4)  # type: ignore[arg-type]
    np.testing.assert_array_equal(again.augmentation(2, 5, 10)[1], shifts)
    np.testing.assert_array_equal(again.augmentation(2, 5, 10)[0], flip)
    assert shifts.dtype == np.int64 and shifts.min() >= -4 and shifts.max() <= 4
    others = [ds.augmentation(e, b, 10)[1] for e, b in ((2, 6), (3, 5))] + [
        BatchDataset(None, sampler, seed=4, max_shift=4).augmentation(2, 5, 10)[1]  # type: ignore[arg-type]
    ]
    assert all(not np.array_equal(o, shifts) for o in others)
    assert ds.augmentation(0, 0, 10000)[1].min() == -4 and ds.augmentation(0, 0, 10000)[1].max() == 4
    assert BatchDataset(None, sampler).augmentation(2, 5, 10) == (None, None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_shift"):
        BatchDataset(None, sampler, max_shift=-1)  # type: ignore[arg-type]


def test_shifted_window_is_the_genome_window_moved(store, genome):
    store, dense = store
    source = StoreSource(store, genome)
    loader = batch_loader(
        source, store.split_indices("train"), 8, shuffle=True, seed=1, reverse_complement=True, max_shift=6, sparse_labels=True
    )
    seen = 0
    for epoch in (0, 1):
        loader.sampler.set_epoch(epoch)
        for b, batch in enumerate(loader):
            rows = batch["index"].numpy()
            flip, shifts = loader.dataset.augmentation(epoch, b, rows.size)
            assert flip.any() and (shifts != 0).any()
            for k, row in enumerate(rows):
                np.testing.assert_array_equal(batch["codes"][k].numpy(), expected_window(store, genome, row, int(shifts[k]), bool(flip[k])))
            assert "labels" not in batch and batch["label_columns"].numel() < dense[rows].size // 4  # CSR pieces
            np.testing.assert_array_equal(dense_labels(batch, 30).numpy(), dense[rows])
            seen += rows.size
    assert seen == 2 * store.split_indices("train").size


def test_same_batches_in_workers_and_after_a_new_epoch(store, genome):
    store, _ = store
    ds = StoreDataset(store, "train", genome)

    def epoch_one(workers: int) -> list[torch.Tensor]:
        loader = make_loader(ds, batch_size=8, seed=2, num_workers=workers, reverse_complement=True, max_shift=3)
        list(loader)  # epoch 0: persistent workers copy the sampler here
        loader.sampler.set_epoch(1)
        return [b["codes"] for b in loader]

    a, b = epoch_one(0), epoch_one(1)
    assert len(a) == len(b) == 5 and all(torch.equal(x, y) for x, y in zip(a, b))


def test_eval_loaders_never_augment(store, genome):
    store, _ = store
    spec, labels = table_spec(LabelKind.MULTILABEL, store.n_labels, LENGTH), LabelSet(tuple(store.label_names))
    splits = {s: store.split_indices(s) for s in ("train", "val", "test")}
    data = TrainingData(StoreSource(store, genome), splits, spec, labels, LENGTH, "toy", "")
    config = TrainConfig(data="x", batch_size=4, reverse_complement_augment=True, max_shift=10)
    loaders = split_loaders(data, config)
    assert loaders["train"].dataset.reverse_complement and loaders["train"].dataset.max_shift == 10
    for split in ("val", "test"):
        ds = loaders[split].dataset
        assert not ds.reverse_complement and ds.max_shift == 0 and not loaders[split].sampler.shuffle
        for batch in loaders[split]:
            rows = batch["index"].numpy()
            np.testing.assert_array_equal(batch["codes"].numpy(), store.sequences(rows, genome))
            np.testing.assert_array_equal(dense_labels(batch, 30).numpy(), store.labels.dense(rows))
    with pytest.raises(ValueError, match="max_shift"):
        TrainConfig(max_shift=-1)


def test_table_source_shifts_within_the_sequence():
    from dnabench.data.tables import SequenceTable

    codes = np.tile(np.arange(4, dtype=np.uint8), (3, 3))[:, :10]  # rows 0123012301
    table = SequenceTable(codes, np.zeros((3, 1), np.float32), ["y"], np.array(["train"] * 3), np.full(3, 10), "t")
    got, _ = TableSource(table).get_batch(np.array([0, 1, 2]), shifts=np.array([2, -3, 0]))
    np.testing.assert_array_equal(got[0], np.r_[codes[0, 2:], [4, 4]])
    np.testing.assert_array_equal(got[1], np.r_[[4, 4, 4], codes[1, :7]])
    np.testing.assert_array_equal(got[2], codes[2])


def test_labels_and_pickling(store, genome):
    store, dense = store
    rows = np.array([5, 0, 59, 5])
    source = StoreSource(store, genome)
    np.testing.assert_array_equal(source.labels([-1, -60]), dense[[59, 0]])
    with pytest.raises(IndexError):
        source.label_pieces([60])
    counts, columns = source.label_pieces(rows)
    np.testing.assert_array_equal(counts, (dense[rows] > 0).sum(1))
    np.testing.assert_array_equal(binary_rows(counts, columns, 30), dense[rows])
    assert source.labels(rows).dtype == np.uint8 and source.labels(rows[:0]).shape == (0, 30)
    as_float = StoreSource(store, genome, label_dtype="float32").get_batch(rows)[1]
    assert as_float.dtype == np.float32 and np.array_equal(as_float, dense[rows])
    split = StoreSource(store, genome, rows=store.split_indices("test"))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(split)).labels([1, 0]), dense[store.split_indices("test")[[1, 0]]])
    ds = StoreDataset(store, "val", genome)
    blob = pickle.dumps(ds)
    assert len(blob) < 2_000  # paths: the memory maps are opened again in the worker
    clone = pickle.loads(blob)
    assert isinstance(clone.genome.sequence, np.memmap) and clone.genome is not genome
    np.testing.assert_array_equal(clone.get_batch([3, 1])[0], ds.get_batch([3, 1])[0])
    np.testing.assert_array_equal(clone.get_batch([3, 1], shifts=[2, -2])[0], ds.get_batch([3, 1], shifts=[2, -2])[0])


def test_module_turns_byte_and_sparse_labels_into_float():
    from types import SimpleNamespace

    from dnabench.training.module import DNATaskModule

    module = SimpleNamespace(labels=LabelSet(("a", "b", "c")))
    as_bytes = {"codes": torch.zeros(2, 4, dtype=torch.uint8), "labels": torch.tensor([[0, 1, 0], [1, 1, 0]], dtype=torch.uint8)}
    sparse = {"codes": as_bytes["codes"], "label_counts": torch.tensor([1, 2]), "label_columns": torch.tensor([1, 0, 1], dtype=torch.int32)}
    for batch in (as_bytes, sparse):
        out = DNATaskModule.on_after_batch_transfer(module, batch, 0)  # type: ignore[arg-type]
        assert out["labels"].dtype == torch.float32 and out["labels"].tolist() == [[0.0, 1.0, 0.0], [1.0, 1.0, 0.0]]
    floats = {"labels": torch.tensor([[0.5]])}
    assert DNATaskModule.on_after_batch_transfer(module, floats, 0) is floats  # type: ignore[arg-type]


def test_sparse_label_store_trains_with_augmentation(tmp_path, store, genome):
    """A CSR multilabel store trains through Lightning (a worker, --shift, RC); evaluation reads dense labels."""
    import json

    import yaml
    from typer.testing import CliRunner

    from dnabench.cli import app

    built, _ = store
    card = json.loads((built.path / "dataset.json").read_text())
    folder = tmp_path / "track"
    write_store(folder, {**card, "task": "track7878", "genome": None}, built.regions, built.labels)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({
        "model_options": {"channels": [8], "kernel_size": 5, "pool_size": 2}, "reverse_complement_augment": True,
        "genome": str(genome.path), "max_epochs": 1, "batch_size": 8, "progress": False, "num_workers": 1,
    }))
    run = tmp_path / "run"
    res = CliRunner().invoke(app, ["train", "--config", str(tmp_path / "c.yaml"), "--data", str(folder), "--model", "cnn_fc",
                                   "--out", str(run), "--shift", "3"])
    assert res.exit_code == 0, res.output
    assert yaml.safe_load((run / "config.yaml").read_text())["max_shift"] == 3
    assert "auroc" in json.loads((run / "metrics.json").read_text())["test"]
    assert CliRunner().invoke(app, ["evaluate", str(run), "--split", "val"]).exit_code == 0


class _FlipAfterSource(BatchSource):
    """A source whose gather cannot read the other strand: it flips the gathered rows afterwards."""

    def __init__(self, inner):
        self.inner = inner

    def codes(self, indices, shifts=None, flips=None):
        codes = np.array(self.inner.codes(indices, shifts), copy=True)
        if flips is not None:
            codes[flips] = reverse_complement(codes[flips])
        return codes

    def labels(self, indices):
        return self.inner.labels(indices)


def test_sources_that_flip_after_the_gather_get_the_same_batches():
    from dnabench.data.tables import SequenceTable

    rng = np.random.default_rng(0)
    codes = rng.integers(0, 5, (40, 30), dtype=np.uint8)
    labels = rng.random((40, 2), dtype=np.float32)
    table = SequenceTable(codes, labels, ["a", "b"], np.array(["train"] * 40), np.full(40, 30), "memory")
    batches = []
    for source in (TableSource(table), _FlipAfterSource(TableSource(table))):
        loader = batch_loader(source, np.arange(40), 8, shuffle=True, seed=5, reverse_complement=True, max_shift=3)
        batches.append([b["codes"] for b in loader])
    assert all(torch.equal(a, b) for a, b in zip(*batches)) and len(batches[0]) == 5


def test_a_source_states_its_gather_and_labels():
    class NoCodes(BatchSource):
        def labels(self, indices):
            return np.zeros((len(indices), 1), np.float32)

    with pytest.raises(TypeError, match="codes"):
        NoCodes()
    with pytest.raises(ValueError, match="keeps no sparse labels"):
        _FlipAfterSource(None).label_pieces(np.arange(2))


@pytest.mark.parametrize("shuffle", [False, True])
def test_fill_last_gives_every_batch_one_shape_and_marks_the_repeats(shuffle):
    rows = np.arange(100, 123)  # 23 rows: batches of 10, 10 and 3
    plain = list(EpochBatchSampler(rows, 10, shuffle=shuffle, seed=3))
    filled = list(EpochBatchSampler(rows, 10, shuffle=shuffle, seed=3, fill_last=True))
    assert [item.indices.size for item in filled] == [10, 10, 10]
    assert [item.real for item in filled] == [item.real for item in plain] == [10, 10, 3]
    for a, b in zip(plain, filled):
        np.testing.assert_array_equal(b.indices[: b.real], a.indices)
    first_of_epoch = np.concatenate([item.indices for item in plain])[:7]
    np.testing.assert_array_equal(filled[-1].indices[3:], first_of_epoch)
    tiny = list(EpochBatchSampler(rows[:3], 10, shuffle=shuffle, fill_last=True))  # fewer rows than a batch: repeated round
    assert tiny[0].indices.size == 10 and tiny[0].real == 3 and set(tiny[0].indices) == set(rows[:3])


def test_prefetched_batches_are_the_plain_ones_in_order(store, genome):
    """The background gather gives the batches of the loader without it, epoch after epoch."""
    store, _ = store
    ds = StoreDataset(store, "train", genome)

    def epochs(prefetch: bool) -> list[torch.Tensor]:
        loader = make_loader(ds, batch_size=8, seed=2, reverse_complement=True, max_shift=3, pin_memory=False, prefetch=prefetch)
        assert loader.prefetch is prefetch
        first = [b["codes"] for b in loader]
        loader.sampler.set_epoch(1)
        return first + [b["codes"] for b in loader]

    plain, ahead = epochs(False), epochs(True)
    assert len(plain) == len(ahead) == 10 and all(torch.equal(x, y) for x, y in zip(plain, ahead))


def test_prefetch_raises_the_threads_error_and_stops_when_closed():
    import threading

    from dnabench.data.loader import prefetched

    def failing():
        yield 1
        raise ValueError("row 7: bad code")

    with pytest.raises(ValueError, match="row 7: bad code"):
        list(prefetched(failing()))

    endless = prefetched(iter(int, 1), depth=2)  # int() == 0 forever
    assert next(endless) == 0
    endless.close()
    assert not any(t.name == "dnabench-prefetch" and t.is_alive() for t in threading.enumerate())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_a_gpu_batches_are_prefetched_and_pinned(store, genome):
    store, _ = store
    ds = StoreDataset(store, "train", genome)
    loader = make_loader(ds, batch_size=8, seed=2)
    assert loader.prefetch and loader.pin_memory
    batches = list(loader)
    assert batches and all(b["codes"].is_pinned() and b["labels"].is_pinned() for b in batches)
    plain = list(make_loader(ds, batch_size=8, seed=2, pin_memory=False, prefetch=False))
    assert all(torch.equal(a["codes"], b["codes"]) for a, b in zip(batches, plain))


def test_a_run_trained_through_the_background_loader_is_the_plain_run(tmp_path, monkeypatch):
    """train() with the prefetching loader (a GPU's default) gives the run of the plain one: the
    same batches, validation and test, through Lightning's own fetching of the next batch."""
    import functools
    import json

    import dnabench.training.data as training_data
    from dnabench.training.run import train
    from test_training import SMALL_CNN, synthetic_table

    table = synthetic_table(tmp_path / "motif.csv")

    def run(name: str) -> dict:
        config = TrainConfig(data=str(table), model="cnn_fc", model_options=SMALL_CNN, out=str(tmp_path / name), max_epochs=2,
                             batch_size=32, lr=3e-3, progress=False, reverse_complement_augment=True, max_shift=2)
        return json.loads((train(config) / "metrics.json").read_text())

    import dnabench.data.loader as loader_module

    plain = run("plain")
    calls = []
    real = loader_module.prefetched
    monkeypatch.setattr(loader_module, "prefetched", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(training_data, "batch_loader", functools.partial(batch_loader, prefetch=True))
    ahead = run("ahead")
    assert len(calls) >= 4  # two training epochs, validation and test went through it
    assert ahead["epochs"] == plain["epochs"] == 2 and ahead["steps"] == plain["steps"]
    assert ahead["val"] == plain["val"] and ahead["test"] == plain["test"]
