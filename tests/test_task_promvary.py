"""PromVary / PromFix on real EPD promoter coordinates (genomic_benchmarks) over a made-up genome.

The promoters are the genomic_benchmarks `human_nontata_promoters` training positives: EPD
promoters as GRCh38 251 bp windows, -200..+50 around the TSS (the CNNPromoterData convention of
Umarov & Solovyev 2017 they were imported from), so the TSS is start + 200 on '+' and end - 201 on
'-'. To keep the test fast and honest the coordinates are not moved: only the promoters on the
first 2 Mb of chr1, chr16 and chr19 (gene-dense, 162 promoters) are used, over a random genome
whose chromosomes are just long enough to hold them. Sequence content is synthetic, so the checks
are on coordinates, strands and which bases land where, not on promoter motifs.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from dnabench.alphabet import N, complement, reverse_complement
from dnabench.io.files import InputError
from dnabench.io.genome import index_genome
from dnabench.synthetic import make_genome
from dnabench.tasks.promvary import build_promfix, build_promvary, read_promoters

# GRCh38 chromosome lengths (Ensembl 97 primary assembly, as listed by the genomic_benchmarks import notebook)
GRCH38 = {
    "chr1": 248_956_422, "chr2": 242_193_529, "chr3": 198_295_559, "chr4": 190_214_555, "chr5": 181_538_259,
    "chr6": 170_805_979, "chr7": 159_345_973, "chr8": 145_138_636, "chr9": 138_394_717, "chr10": 133_797_422,
    "chr11": 135_086_622, "chr12": 133_275_309, "chr13": 114_364_328, "chr14": 107_043_718, "chr15": 101_991_189,
    "chr16": 90_338_345, "chr17": 83_257_441, "chr18": 80_373_285, "chr19": 58_617_616, "chr20": 64_444_167,
    "chr21": 46_709_983, "chr22": 50_818_468, "chrX": 156_040_895, "chrY": 57_227_415,
}
CHROMS = ("chr1", "chr16", "chr19")
LIMIT = 2_000_000


@pytest.fixture(scope="module")
def positives(shared_data):
    path = shared_data / "PromVary" / "genomic_benchmarks_human_nontata_promoters" / "train" / "positive.csv.gz"
    return pd.read_csv(path)


@pytest.fixture(scope="module")
def setup(positives, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("promvary")
    d = positives[positives.region.isin(CHROMS) & (positives.end < LIMIT)].reset_index(drop=True)
    tss = np.where(d.strand == "+", d.start + 200, d.end - 201)
    bed = pd.DataFrame({"chrom": d.region, "start": tss, "end": tss + 1, "name": d.id, "score": 0, "strand": d.strand})
    bed_path = tmp / "tss.bed"
    bed.to_csv(bed_path, sep="\t", header=False, index=False)
    sizes = {c: int(d.loc[d.region == c, "end"].max()) + 20_000 for c in CHROMS}
    make_genome(sizes, sites_per_motif=5, seed=11).write_fasta(tmp / "genome.fa")
    genome = index_genome(tmp / "genome.fa", tmp / "genome", progress=False)
    return {"tmp": tmp, "bed": bed, "bed_path": bed_path, "genome": genome}


@pytest.fixture(scope="module")
def promvary(setup):
    return build_promvary(setup["bed_path"], setup["genome"], setup["tmp"] / "promvary", seed=0)


@pytest.fixture(scope="module")
def promfix(setup):
    return build_promfix(setup["bed_path"], setup["genome"], setup["tmp"] / "promfix", seed=0)


def test_genomic_benchmarks_positives_are_epd_windows(positives):
    assert list(positives.columns) == ["id", "region", "start", "end", "strand"]
    assert len(positives) == 14_742
    assert positives.id.str.fullmatch(r"FP\d{6}").all() and positives.id.is_unique
    assert set(positives.strand) == {"+", "-"}
    assert ((positives.end - positives.start) == 251).all()
    assert set(positives.region) <= set(GRCH38)
    assert (positives.start >= 0).all()
    assert (positives.end <= positives.region.map(GRCH38)).all()


def core_expected(genome, chrom: str, tss: int, strand: str) -> np.ndarray:
    """Codes of the core promoter -250..+50 read along the strand, straight from the genome."""
    if strand == "+":
        return genome.fetch(chrom, tss - 250, tss + 50)
    return reverse_complement(genome.fetch(chrom, tss - 49, tss + 251))


def check_positives(store, setup, fixed: int | None):
    genome, bed = setup["genome"], setup["bed"].set_index("name")
    reg = store.regions
    pos = reg[reg.label == 1]
    assert len(pos) == len(bed) == 162
    assert set(pos.name) == set(bed.index)
    tss_idx = pos.tss_index.to_numpy().astype(int)
    minus = (pos.strand == "-").to_numpy()
    assert (pos.strand.to_numpy() == bed.loc[pos.name, "strand"].to_numpy()).all()
    recovered = np.where(minus, pos.end.to_numpy() - 1 - tss_idx, pos.start.to_numpy() + tss_idx)
    np.testing.assert_array_equal(recovered, bed.loc[pos.name, "start"].to_numpy())
    assert ((pos.end - pos.start) == 500).all()
    if fixed is None:
        assert tss_idx.min() >= 250 and tss_idx.max() <= 450
        assert np.unique(tss_idx).size > 60  # the offset varies
        assert abs(tss_idx.mean() - 350) < 25
    else:
        assert (tss_idx == fixed).all()
        np.testing.assert_array_equal(pos.start.to_numpy()[~minus], bed.loc[pos.name[~minus], "start"].to_numpy() - 350)
    rows = pos.index.to_numpy()
    codes = store.sequences(rows, genome)
    for k, (row, r) in enumerate(pos.iterrows()):
        t = int(bed.loc[r["name"], "start"])
        i = int(r.tss_index)
        np.testing.assert_array_equal(codes[k, i - 250 : i + 50], core_expected(genome, r.chrom, t, r.strand))
        base = genome.fetch(r.chrom, t, t + 1)[0]
        assert codes[k, i] == (complement(np.array([base]))[0] if r.strand == "-" else base)


def test_promvary_positives(promvary, setup):
    check_positives(promvary, setup, None)


def test_promfix_positives(promfix, setup):
    check_positives(promfix, setup, 350)
    assert promfix.card["task"] == "promfix" and promfix.card["parameters"]["tss_index"] == 350


def windows_overlap(a_start, b_start, length=500):
    return np.abs(a_start[:, None] - b_start[None, :]) < length


@pytest.mark.parametrize("which", ["promvary", "promfix"])
def test_negatives(which, request, setup):
    store = request.getfixturevalue(which)
    genome = setup["genome"]
    reg = store.regions
    pos, neg = reg[reg.label == 1], reg[reg.label == 0]
    assert len(neg) == len(pos)
    assert set(neg.chrom.astype(str)) <= set(CHROMS)
    assert (neg.tss_index == -1).all() and set(neg.strand) == {"+", "-"}
    assert ((neg.start >= 0) & (neg.end <= neg.chrom.astype(str).map(genome.length))).all()
    for c in CHROMS:
        ps = pos[pos.chrom == c].start.to_numpy()
        ns = neg[neg.chrom == c].start.to_numpy()
        assert not windows_overlap(ns, ps).any()  # no negative touches a positive window
        self_overlap = windows_overlap(ns, ns)
        np.fill_diagonal(self_overlap, False)
        assert not self_overlap.any()
        # nor any window a promoter could have had (the envelope -450..+250 around the TSS)
        tss = setup["bed"][setup["bed"].chrom == c].start.to_numpy()
        assert not ((ns[:, None] < tss[None, :] + 451) & (ns[:, None] + 500 > tss[None, :] - 450)).any()
    codes = store.sequences(neg.index.to_numpy(), genome)
    assert ((codes == N).sum(axis=1) <= 25).all()


@pytest.mark.parametrize("which", ["promvary", "promfix"])
def test_split_card_and_leakage(which, request, setup):
    store = request.getfixturevalue(which)
    card = store.card
    reg = store.regions
    assert card["counts"] == {"train": 260, "val": 32, "test": 32}
    for split, n in (("train", 130), ("val", 16), ("test", 16)):
        assert card["class_counts"][split] == {"positive": n, "negative": n}
        sub = reg.iloc[store.split_indices(split)]
        assert (sub.label == 1).sum() == n and (sub.label == 0).sum() == n
    assert card["labels"] == {**card["labels"], "names": ["promoter"], "kind": "binary", "storage": "dense", "shape": [324, 1]}
    assert card["metrics"] == ["auroc", "auprc"] and card["loss"] == "bce" and card["input_length"] == 500
    assert card["sources"][0]["sha256"] == hashlib.sha256(setup["bed_path"].read_bytes()).hexdigest()
    assert card["genome"]["source_sha256"] == setup["genome"].meta["source"]["sha256"]
    np.testing.assert_array_equal(store.labels.dense(np.arange(len(reg)))[:, 0], reg.label.to_numpy())
    # overlap leakage against a brute-force count over the stored regions
    split = reg.split.astype(str).to_numpy()
    chrom = reg.chrom.astype(str).to_numpy()
    start = reg.start.to_numpy()
    cross = (chrom[:, None] == chrom[None, :]) & windows_overlap(start, start) & (split[:, None] != split[None, :])
    leak = card["leakage"]["overlapping_intervals"]
    assert leak["rows"] == int(cross.any(axis=1).sum()) > 0
    tv = cross[np.ix_(split == "train", split == "val")]
    assert leak["by_pair"]["train-val"]["pairs"] == int(tv.sum())
    assert card["leakage"]["identical_sequences"]["rows"] == 0


def test_seed_reproducible(setup, promvary, tmp_path):
    again = build_promvary(setup["bed_path"], setup["genome"], tmp_path / "again", seed=0)
    pd.testing.assert_frame_equal(again.regions, promvary.regions)
    other = build_promvary(setup["bed_path"], setup["genome"], tmp_path / "other", seed=1)
    assert not other.regions.start.equals(promvary.regions.start)


def test_planted_duplicates_are_counted(setup, tmp_path):
    bed = setup["bed"]
    dup = bed.iloc[:40].assign(name=lambda d: d.name + "_dup")
    path = tmp_path / "dup.bed"
    pd.concat([bed, dup]).to_csv(path, sep="\t", header=False, index=False)
    store = build_promfix(path, setup["genome"], tmp_path / "s", seed=0)  # fixed TSS: a duplicate is an identical window
    reg = store.regions
    codes = store.sequences(np.arange(len(reg)), setup["genome"])
    split = reg.split.astype(str).to_numpy()
    where: dict[bytes, set] = {}
    for c, s in zip(codes, split):
        where.setdefault(c.tobytes(), set()).add(s)
    expected = sum(len(where[c.tobytes()]) > 1 for c in codes)
    leak = store.card["leakage"]["identical_sequences"]
    assert leak["rows"] == expected > 0
    assert store.card["leakage"]["overlapping_intervals"]["rows"] >= expected


# ----- bad input -----------------------------------------------------------------------------------


def write_bed(path, rows):
    path.write_text("".join("\t".join(map(str, r)) + "\n" for r in rows))
    return path


def test_promoter_on_missing_chromosome(setup, tmp_path):
    rows = setup["bed"].values.tolist()
    rows.insert(5, ["chr7", 1000, 1001, "FPmissing", 0, "+"])
    path = write_bed(tmp_path / "p.bed", rows)
    with pytest.raises(InputError) as err:
        build_promvary(path, setup["genome"], tmp_path / "s")
    msg = str(err.value)
    assert msg.startswith(f"{path}:6:") and "FPmissing" in msg and "'chr7'" in msg and "chr1, chr16, chr19" in msg
    assert "--skip-missing" in msg
    assert not (tmp_path / "s").exists()
    store = build_promvary(path, setup["genome"], tmp_path / "s", skip_missing=True)
    assert store.card["dropped"]["missing_chromosome"] == {"chr7": 1}
    assert (store.regions.label == 1).sum() == 162


def test_window_off_chromosome(setup, tmp_path):
    rows = setup["bed"].values.tolist() + [["chr16", 100, 101, "FPedge", 0, "+"]]
    path = write_bed(tmp_path / "p.bed", rows)
    store = build_promfix(path, setup["genome"], tmp_path / "s")
    assert store.card["dropped"]["off_chromosome"] == 1 and store.card["dropped"]["off_chromosome_examples"] == ["FPedge"]
    assert "FPedge" not in set(store.regions.name)
    with pytest.raises(InputError, match=rf"p\.bed:{len(rows)}:.*FPedge.*falls off the chromosome"):
        build_promfix(path, setup["genome"], tmp_path / "s2", off_chromosome="error")
    beyond = write_bed(tmp_path / "b.bed", [["chr16", 10**8, 10**8 + 1, "FPfar", 0, "-"]])
    with pytest.raises(InputError, match="beyond the chromosome end"):
        build_promvary(beyond, setup["genome"], tmp_path / "s3")
    assert not (tmp_path / "s2").exists() and not (tmp_path / "s3").exists()


def test_empty_and_malformed_promoter_files(setup, tmp_path):
    empty = tmp_path / "empty.bed"
    empty.write_text("")
    with pytest.raises(InputError, match="empty"):
        build_promvary(empty, setup["genome"], tmp_path / "s")
    header_only = tmp_path / "h.bed"
    header_only.write_text("track name=x\n# nothing\n")
    with pytest.raises(InputError):
        build_promvary(header_only, setup["genome"], tmp_path / "s")
    nostrand = write_bed(tmp_path / "n.bed", [["chr1", 5000, 5001, "FPx", 0, "."]])
    with pytest.raises(InputError, match=r"n\.bed:1:.*strand"):
        read_promoters(nostrand)
    bed3 = write_bed(tmp_path / "b3.bed", [["chr1", 5000, 5001]])
    with pytest.raises(InputError, match="6"):
        read_promoters(bed3)
    wide = write_bed(tmp_path / "w.bed", [["chr1", 5000, 5600, "FPw", 0, "+"]])
    with pytest.raises(InputError, match="tss_from"):
        read_promoters(wide)
    assert read_promoters(wide, tss_from="5prime").tss.tolist() == [5000]
    assert not (tmp_path / "s").exists()


def test_epd_formats(tmp_path):
    # lines as EPD distributes them (Hs_EPDnew_006_hg38.bed is space-separated; TSS in the thick part)
    epd = tmp_path / "Hs_EPDnew_006_hg38.bed"
    epd.write_text("chr1 959245 959305 NOC2L_1 900 - 959245 959256\nchr1 960583 960643 KLHL17_1 900 + 960632 960643\n")
    df = read_promoters(epd)
    assert df.tss.tolist() == [959255, 960632] and df.strand.tolist() == ["-", "+"] and df.name.tolist() == ["NOC2L_1", "KLHL17_1"]
    sga = tmp_path / "Hs_EPDnew_006_hg38.sga"
    sga.write_text("NC_000001.11\tEPDNEW\t959256\t-\t1\tNOC2L_1\nNC_000023.11\tEPDNEW\t100\t+\t1\tX_1\n")
    df = read_promoters(sga)
    assert df.chrom.tolist() == ["chr1", "chrX"] and df.tss.tolist() == [959255, 99] and df.line.tolist() == [1, 2]
    table = tmp_path / "tss.csv"
    table.write_text("name,chrom,tss,strand\nA,chr2,10,+\nB,chr2,20,-\n")
    df = read_promoters(table)
    assert df.chrom.tolist() == ["chr2", "chr2"] and df.tss.tolist() == [10, 20] and df.name.tolist() == ["A", "B"] and df.line.tolist() == [2, 3]


def test_full_epd_human_promoters_on_hg38_sizes(shared_data, tmp_path):
    """EPDnew's whole human list (29,598 promoters, space-separated BED8, hg38) over a genome of
    hg38's chromosome sizes whose sequence is all A: coordinates, strands and counts, no drops."""
    import gzip
    import mmap

    from dnabench.synthetic import sizes_only_genome

    path = shared_data / "PromVary" / "epd_hs_epdnew" / "Hs_EPDnew.bed.gz"
    rows = [line.split(" ") for line in gzip.decompress(path.read_bytes()).decode().splitlines()]
    assert len(rows) == 29_598 and {len(r) for r in rows} == {8}
    tss = {r[3]: (r[0], int(r[7]) - 1 if r[5] == "-" else int(r[6]), r[5]) for r in rows}  # EPD: TSS at the thick part's 5' end
    assert all(int(r[2]) - int(r[1]) == 60 for r in rows) and len(tss) == 29_598

    genome = sizes_only_genome(tmp_path / "hg38", GRCH38)
    # its sequence is one 3 GB sparse file: without this each first touch of a page reads ahead ~128 kB of holes (9 s)
    genome.sequence._mmap.madvise(mmap.MADV_RANDOM)
    store = build_promvary(path, genome, tmp_path / "store", seed=0, leakage=False)
    card = store.card
    assert card["genome"]["build"] == "hg38"
    assert card["inputs"] == {"promoters_read": 29_598, "positives": 29_598, "negatives": 29_598, "positives_with_n": 0}
    assert card["dropped"] == {"missing_chromosome": {}, "off_chromosome": 0, "off_chromosome_examples": []}
    assert card["class_counts"] == {s: {"positive": n, "negative": n} for s, n in (("train", 23_678), ("val", 2_960), ("test", 2_960))}
    assert card["negative_sampling"]["rejected_n"] == 0  # an all-A genome has no N: the N limit never rejects

    reg = store.regions
    pos, neg = reg[reg.label == 1], reg[reg.label == 0]
    assert pos["chrom"].astype(str).value_counts()["chrY"] == 2 and pos["chrom"].nunique() == 24
    want = np.array([tss[n] for n in pos["name"]], dtype=object)
    i = pos["tss_index"].to_numpy().astype(np.int64)
    minus = (pos["strand"] == "-").to_numpy()
    got = np.where(minus, pos["end"].to_numpy() - 1 - i, pos["start"].to_numpy() + i)
    np.testing.assert_array_equal(got, want[:, 1].astype(np.int64))
    assert (pos["chrom"].astype(str).to_numpy() == want[:, 0]).all() and (pos["strand"].astype(str).to_numpy() == want[:, 2]).all()
    assert i.min() >= 250 and i.max() <= 450
    # negatives: inside their chromosome, overlapping no positive window
    length = neg["chrom"].astype(str).map(GRCH38).to_numpy()
    assert (neg["start"] >= 0).all() and (neg["end"].to_numpy() <= length).all()
    for chrom in ("chr1", "chr19"):
        p = pos[pos["chrom"] == chrom].sort_values("start")
        n = neg[neg["chrom"] == chrom]
        j = np.searchsorted(p["start"].to_numpy(), n["end"].to_numpy())  # positives starting before each negative ends
        before = p["end"].to_numpy()[np.maximum(j - 1, 0)]
        assert not ((j > 0) & (before > n["start"].to_numpy())).any()
