"""The genome builder: CpG-depleted background, free space that stays free, sites on their strand, FASTA."""

from __future__ import annotations

import numpy as np
import pytest

from dnabench.alphabet import C, G
from dnabench.io.genome import index_genome
from dnabench.synthetic import GenomeBuilder, background, make_genome, plant_repeats
from dnabench.synthetic.motifs import MOTIFS


def _cpg_obs_exp(seq: np.ndarray) -> float:
    cg = ((seq[:-1] == C) & (seq[1:] == G)).mean()
    return float(cg / ((seq == C).mean() * (seq == G).mean()))


def test_background_is_cpg_depleted():
    seq = background({"chr1": 200_000}, np.random.default_rng(0), gc=0.41, cpg_kept=0.25)["chr1"]
    assert 0.15 < _cpg_obs_exp(seq) < 0.4
    rich = background({"x": 50_000}, np.random.default_rng(0), gc=0.66, cpg_kept=1.0)["x"]
    assert _cpg_obs_exp(rich) > 0.9 and ((rich == C) | (rich == G)).mean() > 0.6


def test_free_positions_never_overlap_what_is_taken():
    rng = np.random.default_rng(1)
    gb = GenomeBuilder({"chr1": 60_000, "chr2": 40_000}, rng)
    gb.write("chr1", 1_000, np.zeros(5_000, np.uint8))
    slots = gb.free_positions(800, 40, rng, margin=20)
    for chrom, start in slots:
        assert not (chrom == "chr1" and start < 6_020 and start + 800 > 980)
    again = gb.free_positions(800, 20, rng)
    spans = sorted(slots + again)
    for (c1, s1), (c2, s2) in zip(spans, spans[1:]):
        assert c1 != c2 or s1 + 800 <= s2
    with pytest.raises(ValueError, match="too full"):
        GenomeBuilder({"chr1": 3_000}, rng).free_positions(1_000, 10, rng)


def test_planted_site_reads_as_its_motif_on_its_strand(tmp_path):
    rng = np.random.default_rng(2)
    gb = GenomeBuilder({"chr1": 30_000}, rng)
    m = MOTIFS["GATA"]
    site = gb.plant("chr1", 5_000, m, "-", rng, kind="tf")
    along = gb.fetch("chr1", 5_000, 5_000 + m.length, "-")
    assert site["score"] == pytest.approx(m.score(along)) and site["mismatches"] == int((along != m.codes).sum())
    assert gb.occupied["chr1"][5_000 : 5_000 + m.length].all() and not gb.is_free("chr1", 4_990, 5_010)
    repeats = plant_repeats(gb, 5, rng)
    genome = gb.to_genome()
    fasta = genome.write_fasta(tmp_path / "g.fa.gz")
    cache = index_genome(fasta, tmp_path / "cache", softmask=True, progress=False)
    assert np.array_equal(cache.fetch_batch(["chr1"], [0], length=30_000)[0], gb.sequences["chr1"])
    assert genome.sites.iloc[0]["name"] == "GATA" and genome.sites.iloc[0]["strand"] == "-"
    assert all(gb.softmask["chr1"][r.start : r.end].all() for r in repeats.itertuples())
    assert genome.write_fasta(tmp_path / "h.fa.gz").read_bytes() == fasta.read_bytes()


def test_make_genome_still_plants_its_motifs():
    g = make_genome({"chr1": 50_000}, sites_per_motif=5, seed=0)
    assert len(g.sites) == 15 and set(g.sites["name"]) == {"TATA", "EBOX", "CTCF"}
