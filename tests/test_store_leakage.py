"""Leakage report: sequence hashes, identical sequences, overlapping intervals and shared k-mers vs brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from dnabench.alphabet import reverse_complement
from dnabench.data.leakage import identical_across_splits, leakage_report, overlaps_across_splits, sequence_hashes, sharing_kmers

SPLITS = ("train", "val", "test")


def test_hashes_equal_iff_rows_equal():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 5, size=(2000, 37), dtype=np.uint8)
    codes[10] = codes[3]
    codes[11] = codes[3]
    codes[12, :] = codes[4, :]
    codes[12, -1] = (codes[4, -1] + 1) % 5  # differs in the last (padded) word only
    h = sequence_hashes(codes)
    assert h.dtype == np.uint64
    assert h[10] == h[3] == h[11] and h[12] != h[4]
    distinct_rows = np.unique(codes, axis=0).shape[0]
    assert np.unique(h).size == distinct_rows
    # same content at another length is another hash
    assert sequence_hashes(codes[:1, :36])[0] != sequence_hashes(codes[:1])[0]
    assert sequence_hashes(np.zeros((0, 5), np.uint8)).shape == (0,)


def brute_identical(seqs, split):
    rows = 0
    for i in range(len(seqs)):
        if any(split[j] != split[i] and seqs[j] == seqs[i] for j in range(len(seqs))):
            rows += 1
    return rows


def test_identical_across_splits_counts_planted_duplicates():
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 4, size=(300, 50), dtype=np.uint8)
    split = rng.choice(SPLITS, size=300)
    # plant: rows 0..4 copied into rows of other splits, one also as reverse complement
    for src, dst in [(0, 100), (1, 101), (2, 102), (2, 103), (3, 104)]:
        codes[dst] = codes[src]
    split[[0, 100]] = ["train", "test"]
    split[[1, 101]] = ["train", "train"]  # same split: not a leak
    split[[2, 102, 103]] = ["val", "test", "train"]
    split[[3, 104]] = ["test", "val"]
    codes[200] = reverse_complement(codes[5])
    split[[5, 200]] = ["train", "val"]
    codes_split = np.array([SPLITS.index(s) for s in split])
    out = identical_across_splits(sequence_hashes(codes), codes_split, SPLITS)
    seqs = [c.tobytes() for c in codes]
    assert out["rows"] == brute_identical(seqs, split) == 7
    assert out["distinct"] == 3
    assert out["by_pair"]["train-test"] == {"distinct": 2, "rows_train": 2, "rows_test": 2}
    assert out["by_pair"]["val-test"] == {"distinct": 2, "rows_val": 2, "rows_test": 2}
    regions = pd.DataFrame({"split": split})
    rep = leakage_report(regions, lambda rows: codes[rows], chunk=64)
    assert rep["identical_sequences"]["rows"] == 7
    assert rep["identical_up_to_reverse_complement"]["rows"] == 9
    assert "overlapping_intervals" not in rep


def test_overlaps_match_brute_force():
    rng = np.random.default_rng(2)
    n = 400
    chrom = rng.choice(["chr1", "chr2"], size=n)
    start = rng.integers(0, 20_000, size=n)
    end = start + rng.integers(1, 600, size=n)
    split = rng.choice(SPLITS, size=n)
    codes = np.array([SPLITS.index(s) for s in split])
    out = overlaps_across_splits(chrom, start, end, codes, SPLITS)
    involved = np.zeros(n, bool)
    for a, b in itertools.combinations(range(3), 2):
        pairs = 0
        rows_a, rows_b = set(), set()
        for i in np.flatnonzero(codes == a):
            for j in np.flatnonzero(codes == b):
                if chrom[i] == chrom[j] and start[i] < end[j] and start[j] < end[i]:
                    pairs += 1
                    rows_a.add(i)
                    rows_b.add(j)
        key = f"{SPLITS[a]}-{SPLITS[b]}"
        assert out["by_pair"][key] == {"pairs": pairs, f"rows_{SPLITS[a]}": len(rows_a), f"rows_{SPLITS[b]}": len(rows_b)}
        involved[list(rows_a | rows_b)] = True
    assert out["rows"] == int(involved.sum()) > 0
    # touching (end == start) is not overlapping; negative starts are fine
    t = overlaps_across_splits(np.array(["c", "c"]), np.array([-50, 0]), np.array([0, 10]), np.array([0, 2]), SPLITS)
    assert t["rows"] == 0


LETTERS = "ACGTN"


def _flat(records: list[str]) -> tuple[np.ndarray, np.ndarray]:
    lookup = np.zeros(256, dtype=np.uint8)
    lookup[np.frombuffer(LETTERS.encode(), dtype=np.uint8)] = np.arange(len(LETTERS))
    codes = lookup[np.frombuffer("".join(records).encode(), dtype=np.uint8)]
    return codes, np.array([len(r) for r in records], dtype=np.int64)


def _brute_sharing(records: list[str], reference: list[str], k: int) -> list[bool]:
    table = str.maketrans("ACGT", "TGCA")
    kmers = set()
    for r in reference:
        for i in range(len(r) - k + 1):
            word = r[i : i + k]
            if "N" not in word:
                kmers.update((word, word.translate(table)[::-1]))
    return [any(r[i : i + k] in kmers for i in range(len(r) - k + 1)) for r in records]


def test_sharing_kmers_matches_brute_force_on_either_strand():
    rng = np.random.default_rng(3)
    def random_records(n):
        return ["".join(rng.choice(list("ACGTN"), p=[0.24, 0.24, 0.24, 0.24, 0.04], size=rng.integers(1, 40))) for _ in range(n)]
    reference, records = random_records(60), random_records(200)
    for k in (3, 5, 8):
        expected = _brute_sharing(records, reference, k)
        assert sharing_kmers(*_flat(records), *_flat(reference), k=k).tolist() == expected
        assert 0 < sum(expected) < len(records)  # both outcomes occur


def test_sharing_kmers_counts_copies_not_boundaries_or_ns():
    rng = np.random.default_rng(0)
    ref = ["".join(rng.choice(list("ACGT"), 60)) for _ in range(2)]
    rc = ref[1][10:40].translate(str.maketrans("ACGT", "TGCA"))[::-1]
    across = ref[0][-12:] + ref[1][:12]  # 24 bases of the back-to-back reference, but of two records
    with_n = ref[0][:12] + "N" + ref[0][13:30]
    records = [ref[0][5:29], rc, across, with_n, ref[0][:23], "".join(rng.choice(list("ACGT"), 80))]
    assert sharing_kmers(*_flat(records), *_flat(ref), k=24).tolist() == [True, True, False, False, False, False]
    with pytest.raises(ValueError, match="k must be in 1..31"):
        sharing_kmers(*_flat(records), *_flat(ref), k=32)


def test_sharing_kmers_finds_gue_core_promoters_inside_the_300_bp_promoters(shared_data):
    """GUE prom_core_all holds 70 bp cores of EPD promoters whose 300 bp windows make prom_300_all:
    the cores that are copies of a 300 bp row are found, as a brute-force 24-mer search finds them."""
    core_path = shared_data / "PromVary" / "GUE_prom_core_all" / "dev.csv"
    long_path = shared_data / "PromVary" / "GUE_prom_300_all" / "dev.csv"
    if not (core_path.is_file() and long_path.is_file()):
        pytest.skip(f"{core_path} or {long_path} is not in the shared data")
    cores = pd.read_csv(core_path)["sequence"].str.upper().tolist()[:1000]
    long = pd.read_csv(long_path)["sequence"].str.upper().tolist()[:1500]
    found = sharing_kmers(*_flat(cores), *_flat(long), k=24)
    assert found.tolist() == _brute_sharing(cores, long, 24)
    assert found.sum() >= 10
