"""Stores built by streaming: CSR labels appended chunk by chunk, stored codes, shifted windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dnabench.alphabet import N
from dnabench.data.store import StoreError, StoreWriter, open_store
from dnabench.io.genome import index_genome
from dnabench.synthetic import make_genome


def placeholder_regions(n: int) -> pd.DataFrame:
    split = np.where(np.arange(n) % 10 == 0, "test", np.where(np.arange(n) % 10 == 1, "val", "train"))
    return pd.DataFrame({"chrom": ".", "start": 0, "end": 0, "strand": ".", "split": split})


def card(n_labels: int) -> dict:
    return {"task": "toy", "labels": {"names": [f"l{i}" for i in range(n_labels)], "kind": "multilabel"}}


def stream_store(folder, dense: np.ndarray, chunk: int, codes: np.ndarray | None = None):
    with StoreWriter(folder) as w:
        if codes is not None:
            w.codes(*codes.shape)[:] = codes
        csr = w.csr_labels(dense.shape[1])
        for b in range(0, len(dense), chunk):
            block = dense[b : b + chunk]
            csr.append(block.sum(1), np.nonzero(block)[1])
        w.finish(card(dense.shape[1]), placeholder_regions(len(dense)))
    return open_store(folder, verify=True)


@pytest.mark.parametrize("n_labels, dtype", [(10, np.int16), (40_000, np.int32)])
def test_streamed_csr_equals_the_dense_matrix(tmp_path, n_labels, dtype):
    rng = np.random.default_rng(0)
    dense = rng.random((500, n_labels)) < (0.2 if n_labels < 100 else 0.0005)
    dense[7] = False  # a row with no label
    store = stream_store(tmp_path / "s", dense, chunk=77)
    assert store.labels.indices.dtype == dtype
    assert store.labels.nnz == int(dense.sum()) == store.card["labels"]["nnz"]
    rows = np.array([7, 499, 0, 250, 3])
    np.testing.assert_array_equal(store.labels.dense(rows), dense[rows].astype(np.float32))


def test_streamed_csr_with_no_positives(tmp_path):
    store = stream_store(tmp_path / "s", np.zeros((30, 4), dtype=bool), chunk=8)
    assert store.labels.nnz == 0 and store.labels.dense(range(30)).sum() == 0


def test_csr_writer_refuses_bad_chunks(tmp_path):
    with pytest.raises(ValueError, match="add up to 3 but 2 indices"):
        with StoreWriter(tmp_path / "s") as w:
            w.csr_labels(5).append(np.array([1, 2]), np.array([0, 1]))
    with pytest.raises(ValueError, match="out of range 0..4"):
        with StoreWriter(tmp_path / "s") as w:
            w.csr_labels(5).append(np.array([1]), np.array([5]))
    assert not (tmp_path / "s").exists()


def test_codes_store_needs_no_genome_and_shifts_within_the_row(tmp_path):
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 4, (60, 20), dtype=np.uint8)
    store = stream_store(tmp_path / "s", rng.random((60, 3)) < 0.3, chunk=16, codes=codes)
    assert store.card["sequence_source"] == "codes" and store.input_length == 20 and store.has_inline_sequences
    rows = np.array([5, 2, 59, 2])  # unsorted, repeated
    np.testing.assert_array_equal(store.sequences(rows), codes[rows])
    moved = store.sequences(rows, shifts=np.array([3, -2, 0, 19]))
    np.testing.assert_array_equal(moved[0, :17], codes[5, 3:])
    assert (moved[0, 17:] == N).all()
    np.testing.assert_array_equal(moved[1, 2:], codes[2, :18])
    assert (moved[1, :2] == N).all()
    np.testing.assert_array_equal(moved[2], codes[59])
    assert moved[3, 0] == codes[2, 19] and (moved[3, 1:] == N).all()


def test_codes_must_match_the_rows(tmp_path):
    with pytest.raises(StoreError, match="9 stored sequences for 10 regions"):
        with StoreWriter(tmp_path / "s") as w:
            w.codes(9, 5)
            w.finish(card(1), placeholder_regions(10), labels=np.zeros((10, 1), np.float32))


def coordinate_store(tmp_path, starts: list[int], strands: list[str]):
    """A genome of one 5 kb chromosome and a store of 50 bp windows at `starts` on `strands`."""
    g = make_genome({"chr1": 5_000}, sites_per_motif=2, seed=2)
    genome = index_genome(g.write_fasta(tmp_path / "g.fa"), tmp_path / "cache", progress=False)
    n = len(starts)
    regions = pd.DataFrame({"chrom": ["chr1"] * n, "start": starts, "end": [s + 50 for s in starts],
                            "strand": strands, "split": ["train"] * n})
    with StoreWriter(tmp_path / "s") as w:
        w.finish({**card(1), "input_length": 50}, regions, labels=np.ones((n, 1), np.float32))
    return open_store(tmp_path / "s"), genome


def test_genome_windows_shift_along_the_genome(tmp_path):
    store, genome = coordinate_store(tmp_path, [100, 2000, 10], ["+", "-", "+"])
    got = store.sequences([0, 1, 2], genome, shifts=[7, -5, -30])
    np.testing.assert_array_equal(got[0], genome.fetch("chr1", 107, 157))
    np.testing.assert_array_equal(got[1], genome.fetch("chr1", 1995, 2045, strand="-"))
    assert (got[2, :20] == N).all()  # shifted past the chromosome start: N
    np.testing.assert_array_equal(got[2, 20:], genome.fetch("chr1", 0, 30))


def test_categorical_columns_are_checked_by_category(tmp_path):
    n = 12
    regions = placeholder_regions(n)
    regions["split"] = pd.Categorical(["train"] * 6 + ["valid"] * 6)  # an alias, as a category
    with StoreWriter(tmp_path / "ok") as w:
        w.codes(n, 4)
        w.finish(card(1), regions, labels=np.zeros((n, 1), np.float32))
    assert open_store(tmp_path / "ok").card["counts"] == {"train": 6, "val": 6, "test": 0}
    regions["split"] = pd.Categorical(["train"] * 6 + ["holdout"] * 6)
    with pytest.raises(StoreError, match="split must be one of .*'holdout'"):
        with StoreWriter(tmp_path / "bad") as w:
            w.codes(n, 4)
            w.finish(card(1), regions, labels=np.zeros((n, 1), np.float32))


def test_flips_read_the_other_strand(tmp_path):
    from dnabench.alphabet import reverse_complement

    store, genome = coordinate_store(tmp_path, [100, 2000, 3000], ["+", "-", "+"])
    plain = store.sequences([0, 1, 2], genome)
    flipped = store.sequences([0, 1, 2], genome, flips=[True, True, False], shifts=[3, 0, 0])
    np.testing.assert_array_equal(flipped[0], genome.fetch("chr1", 103, 153, strand="-"))
    np.testing.assert_array_equal(flipped[1], genome.fetch("chr1", 2000, 2050, strand="+"))  # a '-' row flipped
    np.testing.assert_array_equal(flipped[2], plain[2])
    # stored sequences: shift within the row, then reverse-complement
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 4, (4, 12), dtype=np.uint8)
    stored = stream_store(tmp_path / "c", rng.random((4, 2)) < 0.5, chunk=4, codes=codes)
    got = stored.sequences([1, 3], flips=[True, False], shifts=[2, 0])
    np.testing.assert_array_equal(got[0], reverse_complement(np.concatenate([codes[1, 2:], [N, N]]).astype(np.uint8)))
    np.testing.assert_array_equal(got[1], codes[3])
