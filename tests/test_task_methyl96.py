"""Methyl96 on two real ENCODE bedMethyl files (WGBS pipeline test data) over a made-up genome.

The values are checked against an independent plain-Python count (gzip + split, dictionaries)
at several coverage thresholds, with and without merging the two strands of each CpG.
"""

from __future__ import annotations

import gzip
import hashlib
import numpy as np
import pytest

from dnabench.alphabet import complement
from dnabench.io.files import InputError
from dnabench.io.genome import index_genome
from dnabench.synthetic import make_genome
from dnabench.tasks import get_task
from dnabench.tasks.methyl96 import build_methyl96, label_name

FILES = ("encode_cpg_10e5.bed.gz", "encode_cpg_10e5_gt_10x_coverage.bed.gz")
EXTRA = {"10": 5_000, "chr11": 5_000, "12": 5_000, "chr13": 5_000, "chrX": 5_000, "chr2": 5_000}


@pytest.fixture(scope="module")
def paths(shared_data):
    return [shared_data / "Methyl96" / "encode_wgbs_pipeline" / f for f in FILES]


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("methyl_genome")
    make_genome({"chr1": 3_800_000, **EXTRA}, sites_per_motif=5, seed=5).write_fasta(tmp / "g.fa")
    return index_genome(tmp / "g.fa", tmp / "cache", progress=False)


@pytest.fixture(scope="module")
def parsed(paths):
    """Each file's rows as (chrom, start, strand, coverage, percent), read with gzip and str.split."""
    out = []
    for path in paths:
        rows = []
        with gzip.open(path, "rt") as f:
            for line in f:
                if line.startswith("track") or not line.strip():
                    continue
                cols = line.rstrip("\n").split("\t")
                rows.append((cols[0], int(cols[1]), cols[5], int(cols[9]), float(cols[10])))
        out.append(rows)
    return out


def plain_count(parsed, min_coverage, destrand):
    """{(chrom, pos, strand): [fraction or None per file]}, written without numpy."""
    per_file = []
    for rows in parsed:
        sites = {}
        for chrom, start, strand, cov, pct in rows:
            if destrand and strand == "-":
                key = (chrom, start - 1, "+")
            elif destrand:
                key = (chrom, start, "+")
            else:
                key = (chrom, start, "-" if strand == "-" else "+")
            meth = round(cov * pct / 100)
            m, t = sites.get(key, (0, 0))
            sites[key] = (m + meth, t + cov)
        per_file.append({k: m / t for k, (m, t) in sites.items() if t >= min_coverage})
    union = sorted(set().union(*per_file))
    return {k: [pf.get(k) for pf in per_file] for k in union}


@pytest.mark.parametrize("destrand", [False, True])
@pytest.mark.parametrize("min_coverage", [1, 5, 10, 11])
def test_matrix_matches_plain_python(paths, parsed, genome, tmp_path, min_coverage, destrand):
    store = build_methyl96(paths, genome, tmp_path / "s", min_coverage=min_coverage, destrand=destrand, leakage=False)
    expected = plain_count(parsed, min_coverage, destrand)
    if not destrand:  # the counts of the ENCODE test file (shared/data/SOURCES.md)
        assert len(expected) == {1: 99_999, 5: 8_556, 10: 564}.get(min_coverage, len(expected))
    reg = store.regions
    assert store.n_rows == len(expected)
    got_keys = list(zip(reg.chrom.astype(str), reg.pos.astype(int), reg.strand.astype(str)))
    assert got_keys == sorted(got_keys) and set(got_keys) == set(expected)
    labels = store.labels.dense(np.arange(store.n_rows))
    want = np.array([[np.nan if v is None else v for v in expected[k]] for k in got_keys], dtype=np.float64)
    np.testing.assert_array_equal(np.isnan(labels), np.isnan(want))
    np.testing.assert_allclose(labels, want, atol=1e-6, equal_nan=True)
    nan = np.isnan(labels)
    assert not nan.all(axis=1).any()  # every CpG has a value somewhere
    np.testing.assert_array_equal(reg.n_files.to_numpy(), (~nan).sum(axis=1))
    assert store.card["labels"]["observed_per_label"] == (~nan).sum(axis=0).tolist()
    assert store.card["counts"]["train"] == store.n_rows  # chr1 only


def test_windows_card_and_labels(paths, genome, tmp_path):
    store = build_methyl96(paths, genome, tmp_path / "s", min_coverage=5, destrand=False)
    reg = store.regions
    assert ((reg.end - reg.start) == 501).all() and ((reg.pos - reg.start) == 250).all()
    rows = np.arange(0, store.n_rows, 97)
    codes = store.sequences(rows, genome)
    assert codes.shape == (rows.size, 501)
    for k, row in enumerate(rows):
        r = reg.iloc[row]
        base = genome.fetch(str(r.chrom), int(r.pos), int(r.pos) + 1)[0]
        assert codes[k, 250] == (complement(np.array([base]))[0] if r.strand == "-" else base)
    card = store.card
    assert card["labels"]["names"] == ["encode_cpg_10e5", "encode_cpg_10e5_gt_10x_coverage"]
    assert card["labels"]["kind"] == "regression" and card["labels"]["storage"] == "dense"
    assert card["metrics"] == ["spearman"] and card["loss"] == "masked_bce" and card["input_length"] == 501
    assert card["parameters"]["min_coverage"] == 5
    assert [s["sha256"] for s in card["sources"]] == [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]
    assert card["split_rule"]["val"] == ["chr12", "chr13"] and card["split_rule"]["test"] == ["chr10", "chr11", "chrX", "chrY"]
    assert card["leakage"]["overlapping_intervals"]["rows"] == 0
    assert "identical_sequences" in card["leakage"]
    assert get_task("methyl96").loss_name == "masked_bce"


def write_bedmethyl(path, rows):
    lines = []
    for chrom, start, strand, cov, pct in rows:
        lines.append(f"{chrom}\t{start}\t{start + 1}\tx\t{min(cov, 1000)}\t{strand}\t{start}\t{start + 1}\t0,0,0\t{cov}\t{pct}\n")
    path.write_text("".join(lines))
    return path


def test_chromosome_split_through_aliases(genome, tmp_path):
    names = ["chr1", "chr2", "chr10", "11", "chr12", "13", "chrX", "chrUn_made_up"]
    rows = [(c, 1000 + 10 * i, "+", 20, 50) for i, c in enumerate(names)]
    path = write_bedmethyl(tmp_path / "ENCFF000AAA.bed", rows)
    store = build_methyl96([path], genome, tmp_path / "s")
    split = dict(zip(store.regions.chrom.astype(str), store.regions.split.astype(str)))
    assert split == {"chr1": "train", "chr2": "train", "10": "test", "chr11": "test", "12": "val", "chr13": "val", "chrX": "test"}
    assert store.card["counts"] == {"train": 2, "val": 2, "test": 3}
    assert store.card["inputs"][0]["rows_on_missing_chromosomes"] == {"chrUn_made_up": 1}
    assert store.label_names == ["ENCFF000AAA"] and label_name("a/ENCFF1.bed.gz") == "ENCFF1"
    np.testing.assert_allclose(store.labels.dense(np.arange(7))[:, 0], 0.5)
    with pytest.raises(InputError, match="chrUn_made_up.*skip_missing"):
        build_methyl96([path], genome, tmp_path / "s2", skip_missing=False)
    assert not (tmp_path / "s2").exists()


def test_bad_bedmethyl_inputs(genome, tmp_path):
    ten = tmp_path / "ten.bed"
    ten.write_text("chr1\t100\t101\tx\t5\t+\t100\t101\t0,0,0\t12\n")  # percent column missing
    with pytest.raises(InputError, match=r"ten\.bed:1: bedMethyl needs at least 11"):
        build_methyl96([ten], genome, tmp_path / "s")
    empty = tmp_path / "empty.bed.gz"
    with gzip.open(empty, "wt"):
        pass
    with pytest.raises(InputError, match="empty"):
        build_methyl96([empty], genome, tmp_path / "s")
    low = write_bedmethyl(tmp_path / "low.bed", [("chr1", 100, "+", 3, 100)])
    with pytest.raises(InputError, match="min_coverage=10"):
        build_methyl96([low], genome, tmp_path / "s")
    with pytest.raises(FileNotFoundError):
        build_methyl96([tmp_path / "nope.bed"], genome, tmp_path / "s")
    elsewhere = write_bedmethyl(tmp_path / "hg19.bed", [("chr21", 100, "+", 30, 100), ("chr22", 200, "+", 30, 0)])
    with pytest.raises(InputError, match=r"hg19\.bed: every row is on chromosome\(s\) the genome .* lacks \(chr21: 1, chr22: 1\); is the genome the file's build"):
        build_methyl96([elsewhere], genome, tmp_path / "s")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.bed.gz", "hg19.bed", "low.bed", "ten.bed"]
