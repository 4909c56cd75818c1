"""Methylation: bedMethyl in ENCODE's format read by the real reader and builder, fractions follow CpG density."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from dnabench.io.genome import index_genome
from dnabench.io.intervals import read_bedmethyl
from dnabench.synthetic import GenomeBuilder
from dnabench.synthetic.methylation import bedmethyl_rows, cpg_density, cpg_sites, make_samples, methylation_truth, write_bedmethyl
from dnabench.synthetic.promoters import plant_promoters
from dnabench.tasks.methyl96 import build_methyl96


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("methyl")
    rng = np.random.default_rng(0)
    gb = GenomeBuilder({"chr1": 200_000, "chr10": 100_000}, rng)
    plant_promoters(gb, 60, rng, cgi_fraction=1.0, silent_fraction=0.0)  # CpG islands
    sites = cpg_sites(gb.sequences)
    sites = sites.iloc[::3].reset_index(drop=True)
    samples = make_samples(3, rng)
    truth = methylation_truth(gb.sequences, sites, samples, rng)
    paths = [write_bedmethyl(bedmethyl_rows(truth, s, rng), tmp / f"{s.accession}.bed.gz", s.accession) for s in samples]
    gb.to_genome().write_fasta(tmp / "g.fa")
    genome = index_genome(tmp / "g.fa", tmp / "cache", progress=False)
    return gb, truth, samples, paths, genome, tmp


def test_density_counts_cpgs_in_the_window():
    seq = np.array([1, 2, 0, 1, 2, 1, 2, 3, 3, 1, 2], np.uint8)  # CG at 0, 3, 5, 9
    assert cpg_density({"c": seq}, np.array(["c", "c"]), np.array([3, 9]), half=3).tolist() == [3, 1]


def test_bedmethyl_reads_back_and_methylated_reads_round_trip(world):
    gb, truth, samples, paths, _, _ = world
    df = read_bedmethyl(paths[0])
    assert len(df) > 0 and set(df["strand"]) == {"+", "-"} and df["name"].iloc[0] == f'"{samples[0].accession}"'
    seq = gb.sequences["chr1"]
    plus, minus = df[(df["strand"] == "+") & (df["chrom"] == "chr1")], df[(df["strand"] == "-") & (df["chrom"] == "chr1")]
    assert (seq[plus["start"].to_numpy()] == 1).all() and (seq[minus["start"].to_numpy()] == 2).all()  # C, then G
    assert (df["coverage"] < 100).all() and (df["score"] == df["coverage"]).all()


def test_builder_fractions_follow_cpg_density(world):
    _, truth, samples, paths, genome, tmp = world
    store = build_methyl96(paths, genome, tmp / "store", min_coverage=10)
    assert store.label_names == [s.accession for s in samples]
    merged = store.regions[["chrom", "pos"]].astype({"chrom": str}).merge(truth, on=["chrom", "pos"], how="left")
    assert merged["density"].notna().all()
    labels = store.labels.dense(np.arange(store.n_rows))
    for j, s in enumerate(samples):
        keep = np.isfinite(labels[:, j])
        assert spearmanr(labels[keep, j], merged["density"].to_numpy()[keep]).statistic < -0.5
        assert spearmanr(labels[keep, j], merged[f"p_{s.accession}"].to_numpy()[keep]).statistic > 0.7
    assert (store.regions["split"].astype(str)[store.regions["chrom"].astype(str) == "chr10"] == "test").all()
