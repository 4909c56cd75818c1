"""Pretraining chunks: non-overlapping windows of a genome or of a table / FASTA, both strands, N and length filters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dnabench.alphabet import N, encode, reverse_complement
from dnabench.data.chunks import ChunkSource, chunk_genome, chunk_sequences, read_sequences, tile_windows
from dnabench.data.splits import random_split
from dnabench.io.files import InputError


def test_tile_windows_cuts_records_at_multiples_of_the_length():
    record, within, real = tile_windows(np.array([10, 3, 0, 8]), 4)
    assert record.tolist() == [0, 0, 0, 1, 3, 3]
    assert within.tolist() == [0, 4, 8, 0, 0, 4]
    assert real.tolist() == [4, 4, 2, 3, 4, 4]


def test_genome_chunks_both_strands_and_filters(genome):
    length = 1024
    part = chunk_genome(genome, length, max_n_fraction=0.1, min_length=600)
    counts = part.counts
    # chr1 20,000 bp: 19 whole windows + a 544 bp tail (too short); chr2 12,000 bp: 11 + a 736 bp tail
    assert counts.windows == 20 + 12 and counts.skipped_short == 1
    # the N gap (chr1:10,000-15,000) is the only N: windows more than 10 % inside it are skipped
    expected_n = 0
    for start in range(0, 19 * length, length):
        window = genome.fetch("chr1", start, start + length)
        expected_n += int((window == N).mean() > 0.1)
    assert counts.skipped_n == expected_n > 0
    assert counts.kept == 32 - 1 - expected_n and part.starts.size == counts.kept
    source = ChunkSource([part], length)
    assert len(source) == 2 * counts.kept
    rows = np.arange(len(source))
    codes = source.codes(rows)
    for i in (0, 1, 2 * (counts.kept - 1), 2 * (counts.kept - 1) + 1):
        offset = int(part.starts[i // 2])
        chrom = 0 if offset < genome.lengths[0] else 1
        start = offset - int(genome.offsets[chrom])
        forward = genome.fetch(genome.names[chrom], start, start + length)  # N past the end
        assert np.array_equal(codes[i], forward if i % 2 == 0 else reverse_complement(forward))
    assert np.array_equal(codes[1::2], reverse_complement(codes[0::2]))
    # the chr2 tail (736 real bases) is filled with N
    tail = codes[2 * (counts.kept - 1)]
    assert (tail[736:] == N).all() and (tail[:736] != N).all()
    assert np.array_equal(source.labels(rows[:3]), np.zeros((3, 0), np.float32))


def test_table_chunks_use_only_the_rows_of_the_asked_splits(tmp_path):
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), n)) for n in (500, 260, 100, 300, 300)]
    seqs[3] = "N" * 40 + seqs[3][40:]  # 13 % N
    frame = pd.DataFrame({"sequence": seqs, "label": [1, 0, 1, 0, 1], "split": ["train", "train", "train", "train", "test"]})
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    codes, lengths, info = read_sequences(path, splits=["train"])
    assert lengths.tolist() == [500, 260, 100, 300] and info["rows_used"] == 4
    part = chunk_sequences(str(path), codes, lengths, length=256, max_n_fraction=0.1, min_length=128)
    # 500 -> 256 + 244; 260 -> 256 + 4 (short); 100 (short); 300 -> 256 (13 % N: skipped) + 44 (short)
    assert (part.counts.windows, part.counts.kept, part.counts.skipped_short, part.counts.skipped_n) == (7, 3, 3, 1)
    source = ChunkSource([part], 256)
    got = source.codes(np.array([0, 2, 3, 4]))
    assert np.array_equal(got[0], encode(seqs[0][:256]))
    tail = np.concatenate([encode(seqs[0][256:]), np.full(12, N, np.uint8)])
    assert np.array_equal(got[1], tail) and np.array_equal(got[2], reverse_complement(tail))
    assert np.array_equal(got[3], encode(seqs[1][:256]))
    with pytest.raises(InputError, match="split 'bogus'|unknown split"):
        frame.assign(split=["train", "bogus", "val", "test", "test"]).to_csv(path, index=False)
        read_sequences(path, splits=["train"])


def test_a_table_without_split_column_uses_the_split_of_dnabench_train(tmp_path):
    from dnabench.data.tables import load_sequence_table

    rng = np.random.default_rng(1)
    seqs = ["".join(rng.choice(list("ACGT"), 30)) for _ in range(40)]
    path = tmp_path / "t.tsv"
    pd.DataFrame({"sequence": seqs, "label": rng.integers(0, 2, 40)}).to_csv(path, sep="\t", index=False)
    codes, lengths, _ = read_sequences(path, splits=["train"], seed=3)
    table = load_sequence_table(path, seed=3)
    train_rows = table.indices("train")
    assert np.array_equal(codes.reshape(-1, 30), table.codes[train_rows])
    assert np.array_equal(train_rows, np.flatnonzero(random_split(40, (0.8, 0.1, 0.1), 3) == "train"))


def test_fasta_records_are_chunked_whole(tmp_path):
    path = tmp_path / "s.fa"
    path.write_text(">a\nACGTACGTAC\nGTAC\n>b desc\nNNNNACGT\n>c\nTTTTTTTT\n")
    codes, lengths, info = read_sequences(path)
    assert lengths.tolist() == [14, 8, 8] and info["format"] == "fasta"
    part = chunk_sequences("s", codes, lengths, length=8, max_n_fraction=0.25, min_length=4)
    source = ChunkSource([part], 8)
    assert part.counts.skipped_n == 1 and source.num_windows == 3  # a:8 + 6, c:8; b is half N
    assert np.array_equal(source.codes(np.array([4]))[0], encode("TTTTTTTT"))
    again, _, info = read_sequences(path, splits=["train"])  # a FASTA file has no splits: read whole
    assert np.array_equal(again, codes) and "no splits" in info["splits"]


def test_validation_windows_are_held_out_with_both_strands(genome):
    source = ChunkSource([chunk_genome(genome, 256)], 256)
    splits = source.split(0.1, seed=4)
    train, val = splits["train"], splits["val"]
    assert not set(train // 2) & set(val // 2)
    assert set(train) | set(val) == set(range(len(source)))
    assert np.array_equal(val[0::2] + 1, val[1::2])  # each window on both strands
    assert val.size == 2 * round(0.1 * source.num_windows)
    assert np.array_equal(source.split(0.1, seed=4)["val"], val)
    assert not np.array_equal(source.split(0.1, seed=5)["val"], val)
    with pytest.raises(ValueError, match="val_fraction"):
        source.split(0.0)
