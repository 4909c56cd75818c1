"""MPRA: every SNV of every element, the Kircher table read back, effects equal the motif score change."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from dnabench.io.kircher import read_kircher
from dnabench.synthetic import GenomeBuilder
from dnabench.synthetic.motifs import MOTIFS
from dnabench.synthetic.mpra import GC_EFFECT, plant_elements, saturation_mutagenesis, write_experiment_list, write_kircher
from dnabench.tasks.mpraprom import read_experiment_list


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(0)
    gb = GenomeBuilder({"chr3": 60_000, "chr7": 40_000}, rng)
    elements, sites = plant_elements(gb, 3, rng)
    return gb, elements, sites, saturation_mutagenesis(gb, elements, sites, rng)


def test_every_position_has_three_snvs_and_the_table_reads_back(world, tmp_path):
    gb, elements, _, table = world
    snv = table[table["alt"] != "-"]
    for e in elements.itertuples():
        mine = snv[snv["element"] == e.name]
        assert sorted(mine["pos"].unique()) == list(range(e.first, e.last + 1))
        assert (mine.groupby("pos").size() == 3).all()
    back = read_kircher(write_kircher(table, tmp_path / "elements.tsv.gz")).variants
    assert len(back) == len(table) and (back["release"] == "GRCh38").all()
    assert back["chrom"].iloc[0] == table["chrom"].iloc[0].removeprefix("chr")
    assert np.allclose(back["coefficient"], table["coefficient"], atol=1e-4)
    seq = gb.sequences
    assert all("ACGT"[seq[c][p - 1]] == r for c, p, r in zip(table["chrom"], table["pos"], table["ref"]))
    assert [n for n, _ in read_experiment_list(write_experiment_list(["SYNP1", "SYNP2"], tmp_path / "p.tsv"))] == ["SYNP1", "SYNP2"]


def test_effects_are_the_weighted_motif_score_change(world):
    gb, elements, sites, table = world
    snv = table[table["alt"] != "-"].sample(200, random_state=0)
    for v in snv.itertuples():
        expected = GC_EFFECT * ((v.alt in "CG") - (v.ref in "CG"))
        for s in sites[(sites["owner"] == v.element) & (sites["start"] < v.pos) & (sites["end"] >= v.pos)].itertuples():
            ref = gb.fetch(v.chrom, s.start, s.end, s.strand)
            alt_seq = gb.sequences[v.chrom][s.start : s.end].copy()
            alt_seq[v.pos - 1 - s.start] = "ACGT".index(v.alt)
            alt = alt_seq if s.strand == "+" else (3 - alt_seq)[::-1]
            expected += s.weight * (MOTIFS[s.motif].score(alt) - MOTIFS[s.motif].score(ref))
        assert v.effect == pytest.approx(expected)
    measured = table[table["alt"] != "-"]
    assert 0.6 < spearmanr(measured["effect"], measured["coefficient"]).statistic < 0.99
