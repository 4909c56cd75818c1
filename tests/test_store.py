"""Dataset store: dense and CSR round trips, sequences from genome or inline, atomic writes, damaged stores."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dnabench.alphabet import encode, reverse_complement
from dnabench.data.store import CSRLabels, StoreError, StoreWriter, open_store, write_store
from dnabench.io.genome import index_genome, open_genome
from dnabench.synthetic import make_genome


@pytest.fixture(scope="module")
def other_genome(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("store_genome2")
    make_genome({"chr1": 20_000, "chr2": 12_000}, sites_per_motif=3, seed=4).write_fasta(tmp / "g.fa")
    return index_genome(tmp / "g.fa", tmp / "cache", progress=False)


def make_regions(n: int = 40, length: int = 100, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    chrom = rng.choice(["chr1", "2"], size=n)  # "2" resolves through the alias of chr2
    start = rng.integers(0, 11_000, size=n)
    return pd.DataFrame(
        {
            "chrom": chrom,
            "start": start,
            "end": start + length,
            "strand": rng.choice(["+", "-"], size=n),
            "split": rng.choice(["train", "val", "test"], size=n, p=[0.6, 0.2, 0.2]),
            "extra": np.arange(n),
        }
    )


def card(n_labels: int, kind: str = "regression", length: int | None = 100) -> dict:
    return {"task": "toy", "input_length": length, "labels": {"names": [f"l{i}" for i in range(n_labels)], "kind": kind, "groups": {}}, "metrics": ["spearman"]}


def test_dense_round_trip(tmp_path, genome):
    regions = make_regions()
    labels = np.random.default_rng(1).random((40, 3)).astype(np.float32)
    labels[::7, 1] = np.nan
    store = write_store(tmp_path / "s", card(3), regions, labels)
    again = open_store(tmp_path / "s", verify=True)
    for s in (store, again):
        assert s.card["format"] == "dnabench-store" and s.card["format_version"] == 1
        assert s.card["labels"]["storage"] == "dense" and s.card["labels"]["shape"] == [40, 3]
        assert s.card["counts"] == {k: int((regions.split == k).sum()) for k in ("train", "val", "test")}
        got = s.labels.dense(np.arange(40))
        assert got.dtype == np.float32 and got.shape == (40, 3)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(labels))
        np.testing.assert_array_equal(np.nan_to_num(got, nan=-1), np.nan_to_num(labels, nan=-1))
        assert isinstance(s.labels.array, np.memmap)
    assert list(again.regions["extra"]) == list(range(40))
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(again.split_indices(split), np.flatnonzero(regions.split == split))
    np.testing.assert_array_equal(again.split_indices("valid"), again.split_indices("val"))
    rows = np.array([3, 0, 17])
    np.testing.assert_array_equal(again.labels.dense(rows)[:, 0], labels[rows, 0])
    assert set(again.card["files"]) == {"regions.parquet", "labels.npy"}


def test_csr_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    dense = (rng.random((40, 300)) < 0.03).astype(np.float32)
    dense[5] = 0  # an empty row
    store = write_store(tmp_path / "s", card(300, "multilabel"), make_regions(), CSRLabels.from_dense(dense))
    again = open_store(tmp_path / "s", verify=True)
    assert again.card["labels"]["storage"] == "csr" and again.card["labels"]["nnz"] == int(dense.sum())
    assert set(again.card["files"]) == {"regions.parquet", "labels_indptr.npy", "labels_indices.npy"}
    assert np.load(tmp_path / "s" / "labels_indices.npy").dtype == np.int32
    for s in (store, again):
        np.testing.assert_array_equal(s.labels.dense(np.arange(40)), dense)
        rows = np.array([5, 39, 0, 5])
        np.testing.assert_array_equal(s.labels.dense(rows), dense[rows])
        assert s.labels.dense([]).shape == (0, 300)
    # values other than 1 go to labels_data.npy
    weighted = dense * 0.5
    s2 = write_store(tmp_path / "w", card(300, "multilabel"), make_regions(), CSRLabels.from_dense(weighted))
    assert "labels_data.npy" in s2.card["files"]
    np.testing.assert_array_equal(open_store(tmp_path / "w").labels.dense(np.arange(40)), weighted)


def test_csr_from_scipy(tmp_path):
    sparse = pytest.importorskip("scipy.sparse")
    m = sparse.random(40, 50, density=0.1, format="coo", random_state=0)
    m.data[:] = 1
    store = write_store(tmp_path / "s", card(50, "multilabel"), make_regions(), m)
    np.testing.assert_array_equal(store.labels.dense(np.arange(40)), m.toarray().astype(np.float32))


def test_sequences_from_genome_both_strands(tmp_path, genome, other_genome):
    regions = make_regions()
    store = write_store(tmp_path / "s", {**card(1), "genome": {"source_sha256": genome.meta["source"]["sha256"]}}, regions, np.zeros((40, 1), np.float32))
    rows = np.arange(40)
    codes = store.sequences(rows, genome)
    assert codes.dtype == np.uint8 and codes.shape == (40, 100)
    for i in rows:
        r = regions.iloc[i]
        fwd = genome.fetch(str(r.chrom), int(r.start), int(r.end))
        np.testing.assert_array_equal(codes[i], reverse_complement(fwd) if r.strand == "-" else fwd)
    with pytest.raises(StoreError, match="sha256"):
        store.sequences(rows, other_genome)
    assert store.sequences(rows[:2], other_genome, check_genome=False).shape == (2, 100)
    with pytest.raises(StoreError, match="coordinates only"):
        store.sequences(rows)


def test_inline_sequences(tmp_path):
    rng = np.random.default_rng(3)
    seqs = ["".join(rng.choice(list("ACGTN"), 20)) for _ in range(12)]
    regions = pd.DataFrame({"chrom": "", "start": 0, "end": 20, "strand": "+", "split": ["train"] * 8 + ["validation"] * 2 + ["test"] * 2, "sequence": seqs})
    store = write_store(tmp_path / "s", card(1, "binary", 20), regions, np.ones(12, np.float32))
    assert store.card["sequence_source"] == "inline" and store.card["counts"] == {"train": 8, "val": 2, "test": 2}
    np.testing.assert_array_equal(open_store(tmp_path / "s").sequences([3, 0]), np.stack([encode(seqs[3]), encode(seqs[0])]))
    bad = regions.assign(sequence=["ACGX" * 5] * 12)
    with pytest.raises(StoreError, match="letters"):
        write_store(tmp_path / "bad", card(1, "binary", 20), bad, np.ones(12, np.float32))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_failed_build_leaves_nothing(tmp_path):
    out = tmp_path / "store"
    with pytest.raises(RuntimeError, match="boom"):
        with StoreWriter(out) as w:
            w.dense_labels(10, 2)
            (w.scratch / "x.npy").write_bytes(b"x")
            raise RuntimeError("boom")
    assert leftovers(tmp_path) == []
    with pytest.raises(StoreError, match="without finish"):
        with StoreWriter(out):
            pass
    assert leftovers(tmp_path) == []
    with pytest.raises(StoreError, match="lacks column"):
        write_store(out, card(1), make_regions().drop(columns="strand"), np.zeros((40, 1), np.float32))
    with pytest.raises(StoreError, match="label rows"):
        write_store(out, card(1), make_regions(), np.zeros((39, 1), np.float32))
    with pytest.raises(StoreError, match="label names"):
        write_store(out, card(2), make_regions(), np.zeros((40, 1), np.float32))
    with pytest.raises(StoreError, match="input_length"):
        write_store(out, card(1, length=99), make_regions(), np.zeros((40, 1), np.float32))
    with pytest.raises(StoreError, match="split must be"):
        write_store(out, card(1), make_regions().assign(split="holdout"), np.zeros((40, 1), np.float32))
    assert leftovers(tmp_path) == []
    write_store(out, card(1), make_regions(), np.zeros((40, 1), np.float32))
    with pytest.raises(FileExistsError):
        write_store(out, card(1), make_regions(), np.zeros((40, 1), np.float32))
    write_store(out, card(1), make_regions(n=5), np.zeros((5, 1), np.float32), overwrite=True)
    assert open_store(out).n_rows == 5 and leftovers(tmp_path) == ["store"]


def test_writer_fills_labels_in_place(tmp_path):
    with StoreWriter(tmp_path / "s") as w:
        labels = w.dense_labels(40, 2)
        assert np.isnan(labels).all()
        labels[3, 1] = 0.25
        w.finish(card(2), make_regions())
    got = open_store(tmp_path / "s").labels.dense([3])
    assert got[0, 1] == 0.25 and np.isnan(got[0, 0])
    assert not (tmp_path / "s" / ".scratch").exists()


@pytest.fixture
def good_store(tmp_path):
    write_store(tmp_path / "s", card(3), make_regions(), np.zeros((40, 3), np.float32))
    return tmp_path / "s"


def test_open_refuses_damaged_store(tmp_path, good_store):
    with pytest.raises(FileNotFoundError):
        open_store(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match="not a dataset store"):
        open_store(tmp_path / "empty")

    card_path = good_store / "dataset.json"
    original = card_path.read_text()
    c = json.loads(original)
    card_path.write_text(json.dumps({**c, "format_version": 99}))
    with pytest.raises(StoreError, match="newer dnabench"):
        open_store(good_store)
    card_path.write_text(original[: len(original) // 2])
    with pytest.raises(StoreError, match="not valid JSON"):
        open_store(good_store)
    card_path.write_text(json.dumps({**c, "n_rows": 41}))
    with pytest.raises(StoreError, match="41"):
        open_store(good_store)
    for damaged in ({**c, "files": ["labels.npy"]}, {**c, "labels": "dense"}, {**c, "files": {"labels.npy": 12}}, {**c, "n_rows": "40"}):
        card_path.write_text(json.dumps(damaged))
        with pytest.raises(StoreError, match="damaged card"):
            open_store(good_store)
    card_path.write_text(original)

    labels = good_store / "labels.npy"
    data = bytearray(labels.read_bytes())
    data[-1] ^= 0xFF  # same size, other bytes: only the checksum sees it
    labels.write_bytes(bytes(data))
    open_store(good_store)
    with pytest.raises(StoreError, match="sha256"):
        open_store(good_store, verify=True)
    labels.write_bytes(bytes(data[:-4]))
    with pytest.raises(StoreError, match="labels.npy.*bytes"):
        open_store(good_store)
    labels.unlink()
    with pytest.raises(StoreError, match="labels.npy.*missing"):
        open_store(good_store)


def test_open_checks_label_array_against_card(tmp_path, good_store):
    labels = good_store / "labels.npy"
    np.save(labels, np.zeros((40, 2), np.float32))  # wrong shape; fix the recorded size so only the shape differs
    c = json.loads((good_store / "dataset.json").read_text())
    c["files"]["labels.npy"]["bytes"] = labels.stat().st_size
    (good_store / "dataset.json").write_text(json.dumps(c))
    with pytest.raises(StoreError, match=r"float32 \[40, 3\]"):
        open_store(good_store)


def test_csr_damage_detected(tmp_path):
    dense = (np.random.default_rng(0).random((40, 30)) < 0.2).astype(np.float32)
    write_store(tmp_path / "s", card(30, "multilabel"), make_regions(), CSRLabels.from_dense(dense))
    idx_path = tmp_path / "s" / "labels_indices.npy"
    idx = np.load(idx_path)
    idx[0] = 77  # out of range, same size
    np.save(idx_path, idx)
    c = json.loads((tmp_path / "s" / "dataset.json").read_text())
    c["files"]["labels_indices.npy"]["sha256"] = None
    (tmp_path / "s" / "dataset.json").write_text(json.dumps(c))
    with pytest.raises(StoreError, match=r"labels_indices\.npy: label index 77 at entry 0 is out of range 0\.\.29"):
        open_store(tmp_path / "s")  # the index range is read at every open, not only with verify
    with pytest.raises(StoreError, match="sha256"):
        open_store(tmp_path / "s", verify=True)
    idx[0], idx[1] = idx[1], idx[0]
    np.save(idx_path, idx)
    indptr = np.load(tmp_path / "s" / "labels_indptr.npy")
    indptr[2], indptr[3] = indptr[3] + 1, indptr[2]  # pointers that go down
    np.save(tmp_path / "s" / "labels_indptr.npy", indptr)
    with pytest.raises(StoreError, match=r"labels_indptr\.npy: row pointers decrease at row 2"):
        open_store(tmp_path / "s")


def test_label_values_are_checked_at_open(tmp_path):
    """A store whose labels.npy was edited to values its task cannot train on is refused at open."""

    def store(kind: str, values: np.ndarray, loss: str | None = None) -> Path:
        out = tmp_path / f"s{len(list(tmp_path.iterdir()))}"
        write_store(out, {**card(2, kind), "loss": loss}, make_regions(), np.zeros((40, 2), np.float32))
        labels = np.load(out / "labels.npy")
        labels[:] = values
        np.save(out / "labels.npy", labels)  # same size: the card's byte count still matches
        return out

    ones = np.zeros((40, 2), np.float32)
    ones[::3] = 1
    for kind in ("binary", "multilabel"):
        open_store(store(kind, ones))
        bad = ones.copy()
        bad[7, 1] = 10.0
        with pytest.raises(StoreError, match=rf"labels\.npy: label 'l1' of row 7 is 10, but a {kind} label must be 0 or 1;"):
            open_store(store(kind, bad))
        bad[7, 1] = 0.5
        with pytest.raises(StoreError, match="of row 7 is 0.5"):
            open_store(store(kind, bad))
    missing = ones.copy()
    missing[4, 0] = np.nan
    with pytest.raises(StoreError, match="row 4 is nan"):
        open_store(store("binary", missing, loss="bce"))
    open_store(store("binary", missing, loss="masked_bce"))  # NaN is a missing target the loss leaves out
    fractions = np.full((40, 2), 0.25, np.float32)
    open_store(store("regression", fractions, loss="masked_bce"))
    fractions[9, 0] = 1.5
    with pytest.raises(StoreError, match=r"row 9 is 1.5, but a target of the masked_bce loss must be in \[0, 1\]"):
        open_store(store("regression", fractions, loss="masked_bce"))
    open_store(store("regression", fractions, loss="mse"))
    fractions[11, 1] = np.inf
    with pytest.raises(StoreError, match="row 11 is inf, but targets must be finite"):
        open_store(store("regression", fractions, loss="mse"))


def test_overwrite_replaces_only_a_store_of_its_own_files(tmp_path, genome):
    out = tmp_path / "s"
    write_store(out, card(1), make_regions(), np.zeros((40, 1), np.float32))
    before = (out / "dataset.json").read_bytes()
    mine = out / "notes.txt"
    mine.write_text("mine")
    with pytest.raises(FileExistsError, match=r"holds files dnabench did not write \(notes\.txt\).*nothing was changed"):
        write_store(out, card(1), make_regions(n=5), np.zeros((5, 1), np.float32), overwrite=True)
    assert mine.read_text() == "mine" and (out / "dataset.json").read_bytes() == before
    mine.unlink()
    with pytest.raises(FileExistsError, match="is not a dnabench store .*it is a dnabench genome cache"):
        write_store(genome.path, card(1), make_regions(), np.zeros((40, 1), np.float32), overwrite=True)
    assert open_genome(genome.path).names == ["chr1", "chr2"]
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "peaks.bed").write_text("chr1\t0\t10\n")
    with pytest.raises(FileExistsError, match="is not a dnabench store"):
        write_store(raw, card(1), make_regions(), np.zeros((40, 1), np.float32), overwrite=True)
    assert (raw / "peaks.bed").is_file()
    # an input recorded in the card inside the output: refused before anything is replaced
    own = {**card(1), "sources": [{"role": "old", "path": str(out / "regions.parquet")}]}
    with pytest.raises(StoreError, match="contains the input"):
        write_store(out, own, make_regions(n=5), np.zeros((5, 1), np.float32), overwrite=True)
    assert (out / "dataset.json").read_bytes() == before
    inside = {**card(1), "genome": {"cache_path": str(out)}}
    with pytest.raises(StoreError, match="the output is the input"):
        write_store(out, inside, make_regions(n=5), np.zeros((5, 1), np.float32), overwrite=True)
    assert write_store(out, card(1), make_regions(n=5), np.zeros((5, 1), np.float32), overwrite=True).n_rows == 5
    assert leftovers(tmp_path) == ["raw", "s"]


def test_temporary_folders_of_killed_builds_are_removed(tmp_path):
    """Only dnabench's own `.NAME.tmp-*` folders, of a process that is gone, on this host."""
    import os
    import socket
    import subprocess
    import sys

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    host = socket.gethostname()
    owners = {"dead": (gone.pid, host), "live": (os.getpid(), host), "elsewhere": (gone.pid, "another-host")}
    for name, (pid, where) in owners.items():
        folder = tmp_path / f".s.tmp-{name}"
        folder.mkdir()
        (folder / "labels.npy").write_bytes(b"x" * 1000)
        (folder / ".dnabench-build").write_text(json.dumps({"pid": pid, "host": where, "target": "s"}))
    (tmp_path / ".s.tmp-user").mkdir()  # a folder of that name, not made by dnabench
    (tmp_path / ".s.tmp-user" / "mine.txt").write_text("mine")
    write_store(tmp_path / "s", card(1), make_regions(), np.zeros((40, 1), np.float32))
    assert leftovers(tmp_path) == [".s.tmp-elsewhere", ".s.tmp-live", ".s.tmp-user", "s"]
    assert (tmp_path / ".s.tmp-user" / "mine.txt").read_text() == "mine"
    assert not (tmp_path / "s" / ".dnabench-build").exists()


def test_genome_layout_checked_where_no_source_hash_is_recorded(tmp_path, genome):
    from dnabench.synthetic import sizes_only_genome

    store = write_store(tmp_path / "s", {**card(1), "genome": {"source_sha256": None, "sequences": 2, "total_length": 32_000}},
                        make_regions(), np.zeros((40, 1), np.float32))
    store.check_genome(sizes_only_genome(tmp_path / "same", {"chr1": 20_000, "chr2": 12_000}))
    with pytest.raises(StoreError, match="32,000 total length, but genome .* has 31,000"):
        store.check_genome(sizes_only_genome(tmp_path / "other", {"chr1": 19_000, "chr2": 12_000}))


def test_store_dataset_batches(tmp_path, genome):
    torch = pytest.importorskip("torch")
    from dnabench.data.dataset import StoreDataset, make_loader

    regions = make_regions(n=40)
    labels = np.arange(80, dtype=np.float32).reshape(40, 2)
    store = write_store(tmp_path / "s", card(2), regions, labels)
    ds = StoreDataset(store, "train", genome)
    train_rows = np.flatnonzero(regions.split == "train")
    assert len(ds) == train_rows.size
    codes, lab = ds[1]
    assert codes.dtype == np.uint8 and codes.shape == (100,) and lab.dtype == np.float32 and lab.shape == (2,)
    np.testing.assert_array_equal(lab, labels[train_rows[1]])
    idx = np.array([4, 0, 2])
    bc, bl = ds.get_batch(idx)
    assert bc.shape == (3, 100) and bl.shape == (3, 2)
    for k, i in enumerate(idx):
        np.testing.assert_array_equal(bc[k], ds[int(i)][0])
    np.testing.assert_array_equal(bl, labels[train_rows[idx]])
    # one fetch_batch call per batch
    calls = []
    orig = genome.fetch_batch
    genome.fetch_batch = lambda *a, **k: calls.append(1) or orig(*a, **k)
    try:
        ds.get_batch(np.arange(len(ds)))
    finally:
        del genome.fetch_batch
    assert len(calls) == 1
    seen = []
    for batch in make_loader(ds, batch_size=8, shuffle=True, seed=1):
        assert batch["codes"].dtype == torch.uint8 and batch["labels"].dtype == torch.float32
        np.testing.assert_array_equal(batch["labels"].numpy(), labels[train_rows[batch["index"].numpy()]])
        seen.extend(batch["labels"][:, 0].tolist())
    assert sorted(seen) == sorted(labels[train_rows, 0].tolist())
    # the plain DataLoader with automatic batching works too (one fetch per batch via __getitems__)
    plain = next(iter(torch.utils.data.DataLoader(ds, batch_size=5)))
    assert plain[0].shape == (5, 100) and plain[0].dtype == torch.uint8
    np.testing.assert_array_equal(plain[1].numpy(), labels[train_rows[:5]])
    clone = pickle.loads(pickle.dumps(ds))
    assert len(pickle.dumps(ds)) < 2_000  # paths, not the genome
    np.testing.assert_array_equal(clone.get_batch(idx)[0], bc)


def test_window_card_sample_field(tmp_path, genome):
    store = write_store(tmp_path / "s", card(1), make_regions(), np.zeros((40, 1), np.float32))
    assert store.card["sample"] == {"kind": "window", "length": 100}
    assert store.sample_kind == "window" and store.sample_shape == (100,)
    # a card written before the sample field existed opens as a window store
    card_path = tmp_path / "s" / "dataset.json"
    old = json.loads(card_path.read_text())
    del old["sample"]
    card_path.write_text(json.dumps(old))
    again = open_store(tmp_path / "s", verify=True)
    assert again.sample == {"kind": "window", "length": 100} and again.sample_shape == (100,)
    np.testing.assert_array_equal(again.sequences([3, 1], genome), store.sequences([3, 1], genome))


def test_stored_codes_are_window_only(tmp_path):
    pair = {**card(1, length=None), "sample": {"kind": "pair", "length": 20}}
    with pytest.raises(StoreError, match="pair store reads the genome"):
        with StoreWriter(tmp_path / "s") as w:
            w.codes(4, 20)
            w.finish(pair, make_regions(n=4, length=20), np.zeros((4, 1), np.float32))
    assert leftovers(tmp_path) == []
