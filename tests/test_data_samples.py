"""Sample kinds: variant pairs [B, 2, L] and segmented windows [B, S, s + 2c], their cards and checks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from dnabench.alphabet import COMPLEMENT, N, decode, encode, reverse_complement
from dnabench.data.samples import Alleles, check_ref, pair_sample, segment_starts, segmented_sample, variant_window_starts
from dnabench.data.store import StoreError, open_store, write_store

L = 21  # odd: the variant in the middle
LE = 20  # even: the variant on the right one of the two middle bases
S, SEG, CTX = 4, 10, 3
CHROM_LENGTHS = {"chr1": 20_000, "chr2": 12_000}


def base_card(sample: dict | None = None, input_length: int | None = None) -> dict:
    card = {"task": "toy", "labels": {"names": ["y"], "kind": "regression"}}
    if sample is not None:
        card["sample"] = sample
    if input_length is not None:
        card["input_length"] = input_length
    return card


def labels(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.float32)[:, None]


def other_base(code: int) -> int:
    return (int(code) + 1) % 4


def variant_table(genome, places: list[tuple[str, int, int]], strand: str = "+") -> pd.DataFrame:
    """Variants at (chrom, 1-based pos, allele length) with the genome's REF and a different ALT."""
    refs, alts = [], []
    for chrom, pos, n in places:
        ref = genome.fetch(chrom, pos - 1, pos - 1 + n)
        assert (ref < 4).all(), "pick a place without N"
        refs.append(decode(ref))
        alts.append(decode(np.array([other_base(c) for c in ref], dtype=np.uint8)))
    return pd.DataFrame(
        {
            "chrom": [p[0] for p in places],
            "pos": np.array([p[1] for p in places], dtype=np.int64),
            "ref": refs,
            "alt": alts,
            "strand": strand,
            "split": "train",
        }
    )


#: both chromosome ends (N padding), the middle, an MNV
PLACES = [("chr1", 1, 1), ("chr1", 5_000, 1), ("chr2", 12_000, 1), ("chr2", 11_995, 1), ("chr1", 7_000, 2), ("chr2", 3, 2)]


def pair_store(tmp_path, genome, strand="+", length=L, name="pairs"):
    table = variant_table(genome, PLACES, strand)
    return write_store(tmp_path / name, base_card(pair_sample(length)), table, labels(len(table))), table


# ----- pairs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [L, LE])
def test_pair_reference_and_alternative(tmp_path, genome, length):
    store, table = pair_store(tmp_path, genome, length=length)
    centre = length // 2
    codes = store.sequences(np.arange(len(table)), genome)
    assert codes.dtype == np.uint8 and codes.shape == (len(table), 2, length)
    assert store.sample_shape == (2, length) and store.sample_kind == "pair" and store.input_length == length
    starts = table["pos"].to_numpy() - 1 - centre
    np.testing.assert_array_equal(codes[:, 0], genome.fetch_batch(table["chrom"], starts, length=length))
    for i, (ref, alt) in enumerate(zip(table["ref"], table["alt"])):
        differ = np.flatnonzero(codes[i, 0] != codes[i, 1])
        np.testing.assert_array_equal(differ, centre + np.arange(len(alt)))
        np.testing.assert_array_equal(codes[i, 1, centre : centre + len(alt)], encode(alt))
        np.testing.assert_array_equal(codes[i, 0, centre : centre + len(ref)], encode(ref))
    assert (codes[0, :, :centre] == N).all()  # pos 1: nothing before the chromosome
    assert (codes[2, :, centre + 1 :] == N).all()  # the last base of chr2
    # the writer filled in the interval each window covers
    np.testing.assert_array_equal(store.regions["start"], starts)
    np.testing.assert_array_equal(store.regions["end"], starts + length)
    assert list(store.regions["strand"].astype(str)) == ["+"] * len(table)


def test_minus_strand_pair_is_reverse_complement(tmp_path, genome):
    plus, table = pair_store(tmp_path, genome, "+", name="plus")
    minus, _ = pair_store(tmp_path, genome, "-", name="minus")
    rows = np.arange(len(table))
    fwd, rev = plus.sequences(rows, genome), minus.sequences(rows, genome)
    np.testing.assert_array_equal(rev, reverse_complement(fwd))
    # the ALT is complemented too: on the - strand the MNV reads reversed and complemented
    mnv = 4
    at = L - 1 - (L // 2) - 1
    np.testing.assert_array_equal(rev[mnv, 1, at : at + 2], COMPLEMENT[encode(table["alt"][mnv])[::-1]])
    # flips read + rows from the - strand and back
    np.testing.assert_array_equal(plus.sequences(rows, genome, flips=True), rev)
    np.testing.assert_array_equal(minus.sequences(rows, genome, flips=np.ones(len(rows), bool)), fwd)
    mixed = np.arange(len(rows)) % 2 == 0
    want = np.where(mixed[:, None, None], rev, fwd)
    np.testing.assert_array_equal(plus.sequences(rows, genome, flips=mixed), want)


def test_region_anchored_pairs_share_one_window(tmp_path, genome):
    """anchor "region": each row gives its window; the variant sits where it falls (MPRA elements)."""
    places = [("chr1", 5_000, 1), ("chr1", 5_003, 1), ("chr1", 5_010, 2)]
    table = variant_table(genome, places)
    table["start"], table["end"] = 4_995, 4_995 + L
    sample = pair_sample(L, anchor="region")
    assert sample == {"kind": "pair", "length": L, "anchor": "region"}
    store = write_store(tmp_path / "anchored", base_card(sample), table, labels(3))
    codes = store.sequences(np.arange(3), genome)
    window = genome.fetch("chr1", 4_995, 4_995 + L)
    assert (codes[:, 0] == window).all()
    for i, (pos, alt) in enumerate(zip(table["pos"], table["alt"])):
        at = pos - 1 - 4_995
        np.testing.assert_array_equal(np.flatnonzero(codes[i, 0] != codes[i, 1]), at + np.arange(len(alt)))
    flipped = store.sequences(np.arange(3), genome, flips=True)
    np.testing.assert_array_equal(flipped, reverse_complement(codes))
    assert open_store(tmp_path / "anchored").sample == sample
    table.loc[1, "start"], table.loc[1, "end"] = 5_004, 5_004 + L
    with pytest.raises(StoreError, match="row 1: the variant at pos 5003 is outside its window"):
        write_store(tmp_path / "bad", base_card(sample), table, labels(3))
    with pytest.raises(ValueError, match="pair anchor must be one of variant, region"):
        pair_sample(L, anchor="centre")


def test_pair_shifts_move_the_window_not_the_variant(tmp_path, genome):
    store, table = pair_store(tmp_path, genome)
    rows = np.array([1, 4, 3])
    shifts = np.array([3, -4, 0])
    codes = store.sequences(rows, genome, shifts=shifts)
    starts = table["pos"].to_numpy()[rows] - 1 - L // 2 + shifts
    np.testing.assert_array_equal(codes[:, 0], genome.fetch_batch(table["chrom"][rows], starts, length=L))
    for k, i in enumerate(rows):
        alt = encode(table["alt"][i])
        at = L // 2 - shifts[k]
        np.testing.assert_array_equal(np.flatnonzero(codes[k, 0] != codes[k, 1]), at + np.arange(alt.size))
        np.testing.assert_array_equal(codes[k, 1, at : at + alt.size], alt)
    # shift and flip together: the shifted + strand pair, reverse-complemented
    both = store.sequences(rows, genome, shifts=shifts, flips=True)
    np.testing.assert_array_equal(both, reverse_complement(codes))
    with pytest.raises(ValueError, match="batch row 1.*out of"):
        store.sequences(rows, genome, shifts=np.array([0, -(L // 2), 0]))  # the MNV's second base past the end
    with pytest.raises(ValueError, match="out of"):
        store.sequences([1], genome, shifts=[L // 2 + 1])


def test_check_ref_finds_planted_mismatch(genome):
    table = variant_table(genome, PLACES)
    assert check_ref(genome, table["chrom"], table["pos"], table["ref"]).all()
    bad = table["ref"].tolist()
    bad[1] = decode(np.array([other_base(encode(bad[1])[0])], np.uint8))
    bad[4] = bad[4][0] + decode(np.array([other_base(encode(bad[4])[1])], np.uint8))
    calls = []
    orig = genome.fetch_batch
    genome.fetch_batch = lambda *a, **k: calls.append(1) or orig(*a, **k)
    try:
        ok = check_ref(genome, table["chrom"], table["pos"], bad)
    finally:
        del genome.fetch_batch
    np.testing.assert_array_equal(ok, [True, False, True, True, False, True])
    assert len(calls) == 2  # one fetch per distinct REF length (1 and 2)
    # past the chromosome end and non-ACGT letters never match
    assert not check_ref(genome, ["chr2", "chr1"], [12_001, 10], ["A", "n"]).any()


def test_geometry_helpers():
    np.testing.assert_array_equal(variant_window_starts(np.array([1, 101]), 21), [-10, 90])
    np.testing.assert_array_equal(variant_window_starts(np.array([101]), 20), [90])
    got = segment_starts(np.array([100, 100]), np.array([False, True]), 3, 10, 2)
    np.testing.assert_array_equal(got, [[98, 108, 118], [118, 108, 98]])
    alleles = Alleles.from_strings(["A", "CG", "T", "ACGT"])
    taken = alleles.take(np.array([3, 1]))
    np.testing.assert_array_equal(taken.lengths, [4, 2])
    np.testing.assert_array_equal(taken.codes, encode("ACGTCG"))
    np.testing.assert_array_equal(Alleles.from_strings(["A", "a", "N", "", "AC-"]).bad_rows(), [False, True, True, True, True])


# ----- segmented windows ---------------------------------------------------------------------------


def segment_table(strand: str) -> pd.DataFrame:
    span = S * SEG
    starts = np.array([0, 9_000, 12_000 - span, 2, 20_000 - span + 5], dtype=np.int64)  # both ends, N padding
    return pd.DataFrame(
        {
            "chrom": ["chr1", "chr1", "chr2", "chr2", "chr1"],
            "start": starts,
            "end": starts + span,
            "strand": strand,
            "split": "train",
        }
    )


def segment_store(tmp_path, strand, name="seg"):
    table = segment_table(strand)
    sample = segmented_sample(S, SEG, CTX)
    return write_store(tmp_path / name, base_card(sample), table, labels(len(table))), table


def test_segmented_plus_strand_is_separate_fetches(tmp_path, genome):
    store, table = segment_store(tmp_path, "+")
    assert store.sample_kind == "segmented" and store.sample_shape == (S, SEG + 2 * CTX)
    assert store.input_length == SEG + 2 * CTX
    codes = store.sequences(np.arange(len(table)), genome)
    assert codes.dtype == np.uint8 and codes.shape == (len(table), S, SEG + 2 * CTX)
    for r, row in table.iterrows():
        for i in range(S):
            lo = row.start + i * SEG - CTX
            np.testing.assert_array_equal(codes[r, i], genome.fetch(row.chrom, lo, lo + SEG + 2 * CTX))
    assert (codes[0, 0, :CTX] == N).all()  # before chr1
    assert (codes[2, -1, -CTX:] == N).all()  # past the end of chr2
    assert (codes[4, -1, -(CTX + 5) :] == N).all() and (codes[4, -1, : SEG - 5 + CTX] != N).any()


def test_segmented_minus_strand_reads_the_transcript(tmp_path, genome):
    plus, table = segment_store(tmp_path, "+", "plus")
    minus, _ = segment_store(tmp_path, "-", "minus")
    rows = np.arange(len(table))
    fwd, rev = plus.sequences(rows, genome), minus.sequences(rows, genome)
    np.testing.assert_array_equal(rev, reverse_complement(fwd[:, ::-1]))
    # the same as reverse-complementing the whole + strand read and cutting it the same way
    width = SEG + 2 * CTX
    for r, row in table.iterrows():
        full = reverse_complement(genome.fetch(row.chrom, row.start - CTX, row.end + CTX))
        cut = np.stack([full[i * SEG : i * SEG + width] for i in range(S)])
        np.testing.assert_array_equal(rev[r], cut)
    np.testing.assert_array_equal(plus.sequences(rows, genome, flips=True), rev)


def test_segmented_shifts_move_the_whole_row(tmp_path, genome):
    store, table = segment_store(tmp_path, "+")
    moved = table.assign(start=table.start + 7, end=table.end + 7)
    again = write_store(tmp_path / "moved", base_card(segmented_sample(S, SEG, CTX)), moved, labels(len(table)))
    rows = np.arange(len(table))
    np.testing.assert_array_equal(store.sequences(rows, genome, shifts=7), again.sequences(rows, genome))


@pytest.mark.parametrize("kind", ["pair", "segmented"])
def test_one_fetch_per_batch(tmp_path, genome, kind):
    store = pair_store(tmp_path, genome)[0] if kind == "pair" else segment_store(tmp_path, "-")[0]
    calls = []
    orig = genome.fetch_batch
    genome.fetch_batch = lambda *a, **k: calls.append(1) or orig(*a, **k)
    try:
        store.sequences(np.arange(len(store)), genome, shifts=1, flips=np.arange(len(store)) % 2 == 0)
    finally:
        del genome.fetch_batch
    assert len(calls) == 1


# ----- cards and writer checks ---------------------------------------------------------------------


def test_sample_field_round_trip(tmp_path, genome):
    pairs, _ = pair_store(tmp_path, genome)
    seg, _ = segment_store(tmp_path, "+")
    for store, sample in ((pairs, pair_sample(L)), (seg, segmented_sample(S, SEG, CTX))):
        card = json.loads((store.path / "dataset.json").read_text())
        assert card["sample"] == sample and card["input_length"] == sample["length"]
        again = open_store(store.path, verify=True)
        assert again.sample == sample and again.sample_shape == store.sample_shape
    assert pair_sample(L) == {"kind": "pair", "length": L, "centre": L // 2}
    assert segmented_sample(200, 200, 400) == {"kind": "segmented", "segments": 200, "segment_length": 200, "context": 400, "length": 1000}
    # a partial field gets its derived sizes
    partial = write_store(tmp_path / "partial", base_card({"kind": "pair", "length": 11}), variant_table(genome, PLACES[:2]), labels(2))
    assert partial.sample == pair_sample(11)
    # the window sample of a plain store
    window = write_store(tmp_path / "w", base_card(input_length=30), segment_table("+").assign(end=lambda d: d.start + 30), labels(5))
    assert window.sample == {"kind": "window", "length": 30} and window.sample_shape == (30,)
    assert window.sequences([0, 1], genome).shape == (2, 30)


def expect_error(tmp_path, card, table, match):
    with pytest.raises(StoreError, match=match) as info:
        write_store(tmp_path / "bad", card, table, labels(len(table)))
    assert str(tmp_path / "bad") in str(info.value)
    assert not (tmp_path / "bad").exists()


def test_pair_writer_refuses_bad_rows(tmp_path, genome):
    good = variant_table(genome, PLACES)
    card = base_card(pair_sample(L))
    expect_error(tmp_path, card, good.assign(alt=["A", "C", "G", "t", "AC", "GT"]), r"row 3 has alt 't'.*A/C/G/T")
    expect_error(tmp_path, card, good.assign(ref=["A", "C", "N", "T", "AC", "GT"]), r"row 2 has ref 'N'")
    expect_error(tmp_path, card, good.assign(alt=["A", "C", "G", "T", "A", "GT"]), r"row 4 is an indel")
    expect_error(tmp_path, card, good.assign(ref=["A", "C", "G", "T", "AC", ""], alt=["A", "C", "G", "T", "AC", ""]), r"row 5 has ref ''")
    expect_error(tmp_path, card, good.assign(pos=np.array([1, 2, 0, 4, 5, 6])), r"row 2 has pos 0.*1-based")
    expect_error(tmp_path, card, good.assign(pos=good.pos.astype(float)), r"pos must be integers")
    expect_error(tmp_path, card, good.drop(columns="alt"), r"lacks column\(s\) alt")
    expect_error(tmp_path, base_card(pair_sample(3)), good.assign(ref="ACG", alt="CGT"), r"row 0: a 3 bp substitution.*3 bp window")
    starts = good.pos - 1 - L // 2
    expect_error(tmp_path, card, good.assign(start=starts.where(good.index != 3, 0), end=starts + L), r"row 3 has start 0")
    expect_error(tmp_path, card, good.assign(strand=["+", "+", "x", "+", "+", "+"]), r"strand must be")
    sequences = good.assign(sequence="A" * L, start=starts, end=starts + L)
    expect_error(tmp_path, card, sequences, r"pair store reads the genome")
    expect_error(tmp_path, {**card, "input_length": L + 1}, good, r"input_length 22 does not match")
    expect_error(tmp_path, base_card({"kind": "pair", "length": L, "centre": 3}), good, r"centre must be length // 2")


def test_segmented_writer_refuses_bad_rows(tmp_path):
    table = segment_table("+")
    card = base_card(segmented_sample(S, SEG, CTX))
    expect_error(tmp_path, card, table.assign(end=table.end.where(table.index != 2, table.end + 1)), r"row 2 spans 41 bp.*segments x segment_length is 40")
    expect_error(tmp_path, base_card({"kind": "segmented", "segments": 0, "segment_length": SEG, "context": CTX}), table, r"segments must be an integer >= 1")
    expect_error(tmp_path, base_card({"kind": "segmented", "segments": S, "segment_length": 0, "context": CTX}), table, r"segment_length must be")
    expect_error(tmp_path, base_card({"kind": "segmented", "segments": S, "segment_length": SEG, "context": -1}), table, r"context must be an integer >= 0")
    expect_error(tmp_path, base_card({**segmented_sample(S, SEG, CTX), "length": 17}), table, r"length 17 != segment_length 10 \+ 2 x context 3")
    expect_error(tmp_path, base_card({"kind": "tiles", "length": 5}), table, r"kind must be one of window, pair, segmented")
    expect_error(tmp_path, base_card(segmented_sample(S, SEG, CTX), input_length=40), table, r"input_length 40 does not match")


def test_open_checks_the_sample_field(tmp_path, genome):
    store, _ = pair_store(tmp_path, genome)
    card_path = store.path / "dataset.json"
    original = json.loads(card_path.read_text())
    for sample, match in (
        ({"kind": "tiles", "length": L}, "kind must be one of"),
        ({"kind": "pair", "length": 0}, "length must be an integer >= 1"),
        ({**segmented_sample(S, SEG, CTX), "length": 99}, "length 99 != segment_length"),
        (pair_sample(L + 2), "input_length 21 does not match"),
    ):
        card_path.write_text(json.dumps({**original, "sample": sample}))
        with pytest.raises(StoreError, match=match) as info:
            open_store(store.path)
        assert "dataset.json" in str(info.value)
    card_path.write_text(json.dumps({**original, "sequence_source": "inline"}))
    with pytest.raises(StoreError, match="pair store cannot hold inline"):
        open_store(store.path)
