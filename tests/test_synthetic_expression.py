"""Expression: enhancers inside the gene window, ExPecto's tables read back, expression set by motifs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from dnabench.io.expecto import read_expression, read_geneanno
from dnabench.synthetic import GenomeBuilder
from dnabench.synthetic.expression import ENHANCER_RANGE, TISSUES, expression_truth, plant_enhancers, tissue_activity, write_expression, write_geneanno
from dnabench.synthetic.motifs import TF_MOTIFS
from dnabench.synthetic.promoters import plant_promoters


@pytest.fixture(scope="module")
def genes():
    rng = np.random.default_rng(0)
    gb = GenomeBuilder({"chr1": 500_000, "chr8": 300_000}, rng)
    genes = plant_promoters(gb, 120, rng, slot=4_300, prefix="G")
    enhancers = plant_enhancers(gb, genes, rng)
    genes = genes.assign(gene_id=[f"ENSG{i:011d}" for i in range(len(genes))], tss_shift=3, gene_type="protein_coding")
    return gb, genes, enhancers


def test_enhancers_lie_in_the_window_and_hold_their_motifs(genes):
    gb, table, enhancers = genes
    assert len(enhancers) > 60
    tss = table.set_index("name")["tss"]
    distance = np.abs(enhancers["centre"].to_numpy() - tss.loc[enhancers["gene"]].to_numpy())
    assert (distance >= ENHANCER_RANGE[0]).all() and (distance < ENHANCER_RANGE[1]).all()
    sites = gb.sites_frame()
    for s in sites[sites["kind"] == "enhancer"].itertuples():
        assert TF_MOTIFS[s.motif].score(gb.fetch(s.chrom, s.start, s.end, s.strand)) == pytest.approx(s.score)


def test_tables_read_back_and_expression_follows_the_rule(genes, tmp_path):
    gb, table, _ = genes
    activity = tissue_activity(TISSUES, np.random.default_rng(1))
    truth, measured = expression_truth(table, gb.sites_frame(), activity, np.random.default_rng(2))
    anno = read_geneanno(write_geneanno(table, tmp_path / "geneanno.csv"))
    assert (anno["CAGE_representative_TSS"].to_numpy() == table["tss"].to_numpy() + 1).all()
    assert (anno["TSS"] - anno["CAGE_representative_TSS"] == 3).all() and list(anno["seqnames"]) == list(table["chrom"])
    matrix = read_expression(write_expression(measured, tmp_path / "geneanno.exp.csv"))
    assert matrix.names == list(TISSUES) and matrix.values.shape == (len(table), len(TISSUES))
    assert np.allclose(np.log(matrix.values), measured.to_numpy(), atol=1e-4)
    assert spearmanr(truth.to_numpy().ravel(), np.log(matrix.values).ravel()).statistic > 0.6
    # a tissue's own motifs raise expression there
    liver = truth["Liver"] - truth.drop(columns="Liver").mean(axis=1)
    sites = gb.sites_frame()
    foxa = sites[(sites["kind"] == "enhancer") & (sites["motif"] == "FOXA")]["owner"].unique()
    has = truth.index.isin(foxa)
    assert liver[has].mean() > liver[~has].mean()
