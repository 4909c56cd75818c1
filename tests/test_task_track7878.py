"""Track7878: the bin labelling rule, the streaming build on real peak files, metadata errors, the CLI."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from dnabench.cli import app
from dnabench.data.store import open_store
from dnabench.io.files import InputError
from dnabench.io.intervals import read_peaks
from dnabench.synthetic import HG19_SIZES, sizes_only_genome
from dnabench.tasks import track7878 as t7
from dnabench.tasks.track_labels import covered_bin_ranges, expand_ranges, merge_intervals


def brute_force_bins(starts, ends, bin_size=200, min_cover=100, length=None) -> set[int]:
    """Bins whose bases are covered by the union of the intervals >= min_cover times: per base."""
    pos = [np.arange(max(s, 0), e if length is None else min(e, length)) for s, e in zip(starts, ends)]
    covered = np.unique(np.concatenate(pos)) if pos else np.zeros(0, np.int64)
    bins, counts = np.unique(covered // bin_size, return_counts=True)
    return set(bins[counts >= min_cover].tolist())


def rule_bins(starts, ends, **kw) -> set[int]:
    lo, hi = covered_bin_ranges(np.array(starts), np.array(ends), kw.pop("bin_size", 200), kw.pop("min_cover", 100), **kw)
    return set(expand_ranges(lo, hi)[0].tolist())


# ----- the rule ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "starts, ends, expected",
    [
        ([0], [100], {0}),  # exactly half a bin
        ([0], [99], set()),  # one base short
        ([250], [350], {1}),  # half, inside
        ([150], [250], set()),  # across a border: 50 + 50
        ([100], [300], {0, 1}),  # across a border: 100 + 100
        ([0, 140], [60, 200], {0}),  # two peaks of 60 bp in one bin: the union counts
        ([0, 40], [80, 90], set()),  # overlapping peaks are not counted twice (union 90 bp)
        ([30], [1030], {0, 1, 2, 3, 4}),  # long peak: 170, 200 x 4, then 30 (too little)
        ([399], [400], set()),
    ],
)
def test_rule_edge_cases(starts, ends, expected):
    assert rule_bins(starts, ends) == expected == brute_force_bins(starts, ends)


def test_rule_clips_at_the_chromosome_end():
    # chromosome of 1,050 bp: the peak runs past the end; the last bin [1000, 1050) is short
    assert rule_bins([900], [2000], length=1050) == {4} == brute_force_bins([900], [2000], length=1050)
    assert rule_bins([-50], [80], length=1050) == set()  # only 80 bp inside the first bin
    assert rule_bins([-50], [100], length=1050) == {0}


def test_rule_matches_brute_force_on_random_intervals():
    rng = np.random.default_rng(1)
    for _ in range(30):
        n = int(rng.integers(1, 60))
        starts = rng.integers(0, 20_000, n)
        ends = starts + rng.integers(1, 900, n)
        min_cover = int(rng.integers(1, 201))
        assert rule_bins(starts, ends, min_cover=min_cover) == brute_force_bins(starts, ends, min_cover=min_cover)


def test_merge_intervals_joins_overlapping_and_touching():
    s, e = merge_intervals(np.array([10, 0, 30, 20]), np.array([20, 5, 40, 25]))
    assert s.tolist() == [0, 10, 30] and e.tolist() == [5, 25, 40]


# ----- building on real peak files -----------------------------------------------------------------


@pytest.fixture(scope="module")
def hg19(tmp_path_factory):
    return sizes_only_genome(tmp_path_factory.mktemp("genome") / "hg19", HG19_SIZES)


@pytest.fixture(scope="module")
def peak_files(shared_data):
    folder = shared_data / "Track7878" / "annotatr_gm12878"
    files = {"EZH2": folder / "Gm12878_Ezh2_sorted_scores.narrowPeak.gz", "STAT3": folder / "Gm12878_Stat3_chr2.bed.gz"}
    for path in files.values():
        if not path.is_file():
            pytest.skip(f"{path} is missing")
    return files


def write_metadata(path, rows, header="accession\tfile\tgroup\tcell_type\ttarget"):
    path.write_text(header + "\n" + "".join("\t".join(map(str, r)) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def metadata(tmp_path_factory, peak_files):
    folder = tmp_path_factory.mktemp("meta")
    rows = [
        ("EZH2", peak_files["EZH2"], "histone", "GM12878", "EZH2"),
        ("STAT3", peak_files["STAT3"], "TF ChIP-seq", "GM12878", "STAT3"),
    ]
    return write_metadata(folder / "tracks.tsv", rows)


@pytest.fixture(scope="module")
def store(tmp_path_factory, metadata, hg19):
    return t7.build_track7878(metadata, hg19, tmp_path_factory.mktemp("out") / "store", leakage_sequences=False)


def expected_rows(peak_files, genome) -> dict[tuple[str, int], set[int]]:
    """(chrom, bin) -> labels, by brute force over every base of every peak."""
    out: dict[tuple[str, int], set[int]] = {}
    for label, path in enumerate(peak_files.values()):
        peaks = read_peaks(path)
        for chrom, group in peaks.groupby("chrom", observed=True):
            length = genome.length(str(chrom))
            for b in brute_force_bins(group["start"].to_numpy(), group["end"].to_numpy(), length=length):
                out.setdefault((str(chrom), b), set()).add(label)
    return out


def test_real_peak_files_label_every_bin_as_brute_force(store, peak_files, hg19):
    expected = expected_rows(peak_files, hg19)
    regions = store.regions
    bins = (regions["start"].to_numpy() + 400) // 200
    got = {(str(c), int(b)): set(np.flatnonzero(store.labels.dense([i])[0]).tolist()) for i, (c, b) in enumerate(zip(regions["chrom"], bins))}
    assert got == expected
    assert store.card["labels"]["positives"] == [sum(label in v for v in expected.values()) for label in range(2)]
    # rows in genome order, then by position; 1000 bp windows centred on the bin
    order = [hg19.resolve(str(c)) for c in regions["chrom"]]
    keys = np.array(order, dtype=np.int64) * 10**10 + regions["start"].to_numpy()
    assert (np.diff(keys) > 0).all()
    assert ((regions["end"] - regions["start"]) == 1000).all()


def test_card_and_groups(store):
    card = store.card
    assert store.task == "track7878" and store.input_length == 1000
    assert card["labels"]["names"] == ["EZH2", "STAT3"]
    assert card["labels"]["groups"] == ["histone", "tf"]
    assert card["labels"]["storage"] == "csr"
    build = card["build"]
    assert build["bins_kept"] == store.n_rows
    assert build["bins_in_genome"] == sum(-(-n // 200) for n in HG19_SIZES.values())
    assert build["peaks"] == 2472 + 539
    assert sum(card["counts"].values()) == store.n_rows
    assert card["counts"]["train"] > 0.9 * store.n_rows
    assert "overlapping_intervals" in card["leakage"]


def test_small_blocks_give_the_same_store(tmp_path, metadata, hg19, store, monkeypatch):
    monkeypatch.setattr(t7, "_BLOCK_CELLS", 2 * 7)  # 7 bins a block
    small = t7.build_track7878(metadata, hg19, tmp_path / "small", leakage_sequences=False)
    assert small.n_rows == store.n_rows
    assert np.array_equal(small.labels.indptr, store.labels.indptr)
    assert np.array_equal(small.labels.indices, store.labels.indices)
    assert small.regions["split"].tolist() == store.regions["split"].tolist()


def test_chromosome_holdout(tmp_path, metadata, hg19):
    s = t7.build_track7878(metadata, hg19, tmp_path / "held", holdout={"val": ["chr1"], "test": ["chr2", "chrZ"]}, leakage_sequences=False)
    split = s.regions["split"].astype(str).to_numpy()
    chrom = s.regions["chrom"].astype(str).to_numpy()
    assert set(split[chrom == "chr2"]) == {"test"} and set(split[chrom == "chr1"]) == {"val"}
    assert set(split[(chrom != "chr1") & (chrom != "chr2")]) == {"train"}
    assert s.card["split_rule"]["test_absent_from_genome"] == ["chrZ"]
    assert s.card["leakage"]["overlapping_intervals"]["rows"] == 0


def test_store_feeds_the_training_loader(store):
    from dnabench.training.data import load_store_data

    data = load_store_data(store.path)
    rows = data.split("train")[:8]
    codes, labels = data.source.get_batch(rows)
    assert codes.shape == (8, 1000) and codes.dtype == np.uint8
    assert labels.shape == (8, 2) and (labels.sum(1) >= 1).all()
    assert data.labels.groups == ("histone", "tf")


# ----- bad metadata ---------------------------------------------------------------------------------


def test_missing_peak_file_names_the_line(tmp_path, peak_files, hg19):
    meta = write_metadata(tmp_path / "m.tsv", [("A", peak_files["EZH2"], "TF", "x", ""), ("B", tmp_path / "nope.bed", "TF", "x", "")])
    with pytest.raises(InputError, match=r"m\.tsv:3: peak file .*nope\.bed of B does not exist"):
        t7.build_track7878(meta, hg19, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unknown_group(tmp_path, peak_files):
    meta = write_metadata(tmp_path / "m.tsv", [("A", peak_files["EZH2"], "RNA-seq", "x", "")])
    with pytest.raises(InputError, match=r"m\.tsv:2: unknown assay group 'RNA-seq'"):
        t7.read_track_metadata(meta)


def test_duplicate_accession(tmp_path, peak_files):
    rows = [("A", peak_files["EZH2"], "TF", "x", ""), ("A", peak_files["STAT3"], "DNase", "x", "")]
    with pytest.raises(InputError, match=r"m\.tsv:3: duplicate accession 'A' \(also on line 2\)"):
        t7.read_track_metadata(write_metadata(tmp_path / "m.tsv", rows))


def test_missing_column(tmp_path, peak_files):
    meta = write_metadata(tmp_path / "m.tsv", [("A", peak_files["EZH2"], "x")], header="accession\tfile\tcell_type")
    with pytest.raises(InputError, match="header lacks column.*group"):
        t7.read_track_metadata(meta)


def test_relative_paths_and_comments(tmp_path, peak_files):
    (tmp_path / "p.bed").write_bytes(b"chr1\t0\t500\n")
    meta = tmp_path / "m.tsv"
    meta.write_text("# tracks\naccession\tfile\tgroup\tcell_type\nA\tp.bed\tdnase\tK562\n")
    (track,) = t7.read_track_metadata(meta)
    assert track.path == tmp_path / "p.bed" and track.group == "dnase" and track.target == ""


def test_cli_prepare_track7878(tmp_path, metadata, hg19):
    runner = CliRunner()
    out = tmp_path / "cli"
    result = runner.invoke(app, ["prepare", "track7878", "--peaks", str(metadata), "--genome", str(hg19.path),
                                 "--out", str(out), "--no-leakage", "--quiet", "--split", "0.8,0.1,0.1"])
    assert result.exit_code == 0, result.output
    s = open_store(out, verify=True)
    assert s.card["split_rule"]["fractions"] == {"train": 0.8, "val": 0.1, "test": 0.1}
    bad = runner.invoke(app, ["prepare", "track7878", "--peaks", str(metadata), "--genome", str(hg19.path),
                              "--out", str(tmp_path / "x"), "--split", "0.9,0.1", "--quiet"])
    assert bad.exit_code != 0 and "three comma-separated" in bad.output


def test_both_strands_doubles_every_bin_in_one_split(tmp_path, metadata, hg19, store):
    both = t7.build_track7878(metadata, hg19, tmp_path / "both", strands="both", leakage_sequences=False)
    assert both.n_rows == 2 * store.n_rows
    assert both.card["build"]["bins_kept"] == store.n_rows
    r = both.regions
    assert r["strand"].astype(str).tolist() == ["+", "-"] * store.n_rows
    np.testing.assert_array_equal(r["start"].to_numpy()[::2], store.regions["start"].to_numpy())
    np.testing.assert_array_equal(r["start"].to_numpy()[1::2], store.regions["start"].to_numpy())
    split = r["split"].astype(str).to_numpy()
    assert (split[::2] == split[1::2]).all()
    rows = np.arange(0, 40)
    np.testing.assert_array_equal(both.labels.dense(rows)[::2], store.labels.dense(rows[:20]))
    np.testing.assert_array_equal(both.labels.dense(rows)[1::2], store.labels.dense(rows[:20]))
    assert both.card["labels"]["positives"] == [2 * p for p in store.card["labels"]["positives"]]


def test_aliases_and_unknown_chromosomes(tmp_path, hg19):
    (tmp_path / "a.bed").write_text("1\t1000\t1300\nchrUn_gl000220\t0\t500\nchr2\t250000000\t250000500\n")  # "1" = chr1
    (tmp_path / "b.bed").write_text("chr3\t0\t50\n")  # too short to label a bin
    meta = write_metadata(tmp_path / "m.tsv", [("A", tmp_path / "a.bed", "TF", "x", ""), ("B", tmp_path / "b.bed", "DNase", "x", "")])
    s = t7.build_track7878(meta, hg19, tmp_path / "out", leakage_sequences=False)
    assert s.regions["chrom"].astype(str).tolist() == ["chr1", "chr1"]  # bins 5 and 6 ([1000, 1300))
    assert ((s.regions["start"] + 400) // 200).tolist() == [5, 6]
    assert s.card["labels"]["positives"] == [2, 0]
    assert s.card["build"]["peaks_off_genome"] == 1  # chrUn_gl000220 is not in the genome
    assert s.card["build"]["peaks_clipped_at_chromosome_end"] == 1  # chr2 ends at 243,199,373
    assert s.card["build"]["peaks"] == 4


def test_empty_peak_file_fails_before_the_build(tmp_path, peak_files):
    (tmp_path / "empty.bed").write_text("")
    meta = write_metadata(tmp_path / "m.tsv", [("A", peak_files["EZH2"], "TF", "x", ""), ("E", tmp_path / "empty.bed", "DNase", "x", "")])
    with pytest.raises(InputError, match=r"m\.tsv:3: peak file .*empty\.bed of E is empty"):
        t7.read_track_metadata(meta)
