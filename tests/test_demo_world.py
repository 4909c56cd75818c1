"""The demo world: every raw file read by dnabench's own readers, signals where the truth says, same seed same bytes."""

from __future__ import annotations

import pytest

from dnabench.demo.world import make_world
from dnabench.io.expecto import read_expression, read_geneanno
from dnabench.io.files import sha256_file
from dnabench.io.gtex import read_dapg
from dnabench.io.intervals import read_bedmethyl, read_peaks
from dnabench.io.kircher import read_kircher
from dnabench.io.vcf import read_vcf
from dnabench.tasks.promvary import read_promoters
from dnabench.tasks.track7878 import read_track_metadata


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_world(tmp_path_factory.mktemp("world") / "w", seed=0, scale="small")


def _paths(world):
    out = []
    for value in world.files.values():
        out += value if isinstance(value, list) else [value]
    return out + [t.path for t in read_track_metadata(world.files["tracks"])]


def test_every_file_reads_back(world):
    f = world.files
    promoters = read_promoters(f["promoters"])
    assert len(promoters) == int(world.truth["promoters"]["listed"].sum())
    assert all(len(read_bedmethyl(p)) > 0 for p in f["bedmethyl"])
    tracks = read_track_metadata(f["tracks"])
    assert {t.group for t in tracks} == {"dnase", "tf", "histone"} and len(tracks) == len(world.tracks)
    assert len(read_geneanno(f["geneanno"])) == len(read_expression(f["expression"])) == len(world.truth["genes"])
    assert len(read_dapg(f["finemapping"])) == 4 * len(world.truth["variants"])
    assert len(read_kircher(f["mpra"]).variants) == len(world.truth["mpra"])
    table, counts = read_vcf(f["vcf"])
    assert counts["snvs"] == len(world.truth["variants"]) and set(table["chrom"]) <= set(world.sizes)


def test_tf_peaks_hold_their_motif(world):
    sites = world.truth["sites"]
    for t in read_track_metadata(world.files["tracks"]):
        if t.group != "tf":
            continue
        peaks = read_peaks(t.path)
        own = sites[sites["motif"] == t.target]
        held = 0
        for p in peaks.itertuples():
            mine = own[own["chrom"] == p.chrom]
            held += bool(((mine["start"] >= p.start) & (mine["end"] <= p.end)).any())
        noise = next(x.noise_peaks for x in world.tracks if x.accession == t.accession)
        assert held >= len(peaks) - noise and len(peaks) > 3 * noise


def test_tata_boxes_sit_at_minus_31_on_the_promoter_strand(world):
    sites, prom = world.truth["sites"], world.truth["promoters"].set_index("name")
    tata = sites[(sites["motif"] == "TATA") & (sites["kind"] == "promoter")]
    assert len(tata) > 50
    for s in tata.itertuples():
        p = prom.loc[s.owner]
        first = s.start - p.tss if p.strand == "+" else p.tss - (s.end - 1)
        assert s.strand == p.strand and -33 <= first <= -29


def test_same_seed_same_bytes(world, tmp_path):
    again = make_world(tmp_path / "again", seed=0, scale="small")
    assert [sha256_file(p) for p in _paths(world)] == [sha256_file(p) for p in _paths(again)]
    other = make_world(tmp_path / "other", seed=1, scale="small")
    assert sha256_file(other.fasta) != sha256_file(world.fasta)
    with pytest.raises(ValueError, match="scale"):
        make_world(tmp_path / "bad", scale="huge")
