"""Fine-mapping: variants break or make motif sites, REF is the genome's, DAP-G read back, PIPs follow the rule."""

from __future__ import annotations

import numpy as np
import pytest

from dnabench.io.gtex import read_dapg
from dnabench.synthetic import GenomeBuilder
from dnabench.synthetic.expression import TISSUES, plant_enhancers, tissue_activity
from dnabench.synthetic.finemap import causal_probability, draw_pips, make_variants, write_dapg
from dnabench.synthetic.motifs import TF_MOTIFS
from dnabench.synthetic.promoters import plant_promoters


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(0)
    gb = GenomeBuilder({"chr1": 900_000}, rng)
    genes = plant_promoters(gb, 120, rng, slot=4_300, prefix="G")
    plant_enhancers(gb, genes, rng)
    variants = make_variants(gb, genes, gb.sites_frame(), rng, 80, 60, 100)
    return gb, genes, variants


def test_ref_is_the_genome_and_motif_scores_change_as_told(world):
    gb, _, variants = world
    assert variants["kind"].value_counts().to_dict() == {"neutral": 100, "break": 80, "make": 60}
    seq = gb.sequences["chr1"]
    assert all("ACGT"[seq[p - 1]] == r for p, r in zip(variants["pos"], variants["ref"]))
    sites = gb.sites_frame()
    for v in variants[variants["kind"] != "neutral"].itertuples():
        s = sites[(sites["start"] < v.pos) & (sites["end"] >= v.pos)].iloc[0]
        m = TF_MOTIFS[s.motif]
        ref = gb.fetch("chr1", s.start, s.end, s.strand)
        alt_seq = gb.sequences["chr1"].copy()
        alt_seq[v.pos - 1] = "ACGT".index(v.alt)
        alt = alt_seq[s.start : s.end] if s.strand == "+" else (3 - alt_seq[s.start : s.end])[::-1]
        assert m.score(alt) - m.score(ref) == pytest.approx(v.delta)
        assert (v.delta < 0) if v.kind == "break" else (v.delta > 0)
    assert not any(gb.occupied["chr1"][p - 1] for p in variants.loc[variants["kind"] == "neutral", "pos"])


def test_dapg_reads_back_and_causal_variants_act_in_their_tissues(world, tmp_path):
    _, genes, variants = world
    tissues = list(TISSUES)[:4]
    activity = tissue_activity(TISSUES, np.random.default_rng(1))
    prob = causal_probability(variants, activity, tissues)
    pips = draw_pips(prob, np.random.default_rng(2))
    path = write_dapg(variants, pips, {g: f"ENSG{i:011d}.1" for i, g in enumerate(genes["name"])}, tmp_path / "dapg.txt.gz")
    rows = read_dapg(path)
    assert len(rows) == 4 * len(variants) and set(rows["tissue"].astype(str)) == set(tissues)
    first = rows[rows["tissue"] == tissues[0]]
    assert first["pos"].tolist() == variants["pos"].tolist() and np.allclose(first["pip"], pips[tissues[0]], atol=1e-5)
    causal = pips.to_numpy() > 0.9
    neutral = (variants["kind"] == "neutral").to_numpy()
    assert causal[neutral].mean() < 0.1 < causal[~neutral].mean()
    for k, t in enumerate(tissues):
        own = variants["motif"].isin(TISSUES[t]).to_numpy()
        assert causal[own, k].mean() > 0.6 and causal[~own & ~neutral, k].mean() < 0.2
