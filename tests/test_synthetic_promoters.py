"""Promoters: elements at their offsets on the promoter's strand, the EPD BED read back by the real reader."""

from __future__ import annotations

import numpy as np
import pytest

from dnabench.synthetic import GenomeBuilder
from dnabench.synthetic.motifs import PROMOTER_ELEMENTS
from dnabench.synthetic.promoters import ELEMENT_OFFSETS, GC_BOX_RANGE, plant_promoters, promoter_window_scores, write_epd_bed
from dnabench.tasks.promvary import read_promoters


@pytest.fixture(scope="module")
def planted():
    rng = np.random.default_rng(0)
    gb = GenomeBuilder({"chr1": 400_000, "chr2": 300_000}, rng)
    return gb, plant_promoters(gb, 150, rng)


def test_elements_sit_at_their_offsets_along_the_strand(planted):
    gb, truth = planted
    sites = gb.sites_frame()
    assert len(sites) and (sites["kind"] == "promoter").all()
    by_name = truth.set_index("name")
    for s in sites.itertuples():
        p = by_name.loc[s.owner]
        assert s.strand == p.strand
        m = PROMOTER_ELEMENTS[s.motif]
        offset = s.start - p.tss if p.strand == "+" else p.tss - (s.end - 1)  # first base along the strand
        if s.motif in ELEMENT_OFFSETS:
            centre, jitter = ELEMENT_OFFSETS[s.motif]
            assert abs(offset - centre) <= jitter
        else:
            assert GC_BOX_RANGE[0] <= offset and offset + m.length <= GC_BOX_RANGE[1]
        assert m.score(gb.fetch(s.chrom, s.start, s.end, s.strand)) == pytest.approx(s.score)
    tata = truth[truth["tata"] > 0]
    assert 0.3 < len(tata) / len(truth) < 0.7
    assert (truth.loc[truth["silent"], "strength"] == 0).all() and (truth.loc[~truth["silent"], "strength"] > 0).all()


def test_epd_bed_reads_back_with_tss_and_strand(planted, tmp_path):
    gb, truth = planted
    path = write_epd_bed(truth, tmp_path / "epd.bed", gb.names)
    read = read_promoters(path)
    listed = truth[truth["listed"]].sort_values(["chrom", "tss"])
    assert len(read) == len(listed) > 0
    got = read.assign(name=read["name"].str.replace("_1", "")).sort_values(["chrom", "tss"])
    assert got[["chrom", "tss", "strand", "name"]].to_numpy().tolist() == listed[["chrom", "tss", "strand", "name"]].to_numpy().tolist()
    assert truth.loc[~truth["listed"], "strength"].mean() < truth.loc[truth["listed"] & ~truth["silent"], "strength"].mean()


def test_window_scores_see_only_whole_promoters(planted):
    _, truth = planted
    p = truth[~truth["silent"]].iloc[0]
    chrom = np.array([p.chrom] * 3)
    start = np.array([p.core_start - 10, p.core_start + 1, p.core_end + 10])
    scores = promoter_window_scores(truth, chrom, start, start + 500)
    assert scores[0] == pytest.approx(p.strength) and scores[1] == 0 and scores[2] == 0
