"""MPRAProm: the real Kircher 2019 table into pair stores on genomes of real chromosome sizes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from dnabench.alphabet import ASCII_TO_CODE
from dnabench.cli import app
from dnabench.data.store import open_store
from dnabench.io.files import InputError
from dnabench.io.genome import open_genome
from dnabench.io.kircher import KIRCHER_HEADER, read_kircher
from dnabench.io.variants import is_snv
from dnabench.synthetic import HG19_SIZES, sizes_only_genome
from dnabench.tasks import mpraprom as mp

# GRCh38 lengths of the chromosomes the ten promoters are on
GRCH38 = {
    "chr1": 248_956_422, "chr5": 181_538_259, "chr9": 138_394_717, "chr10": 133_797_422, "chr11": 135_086_622,
    "chr19": 58_617_616, "chr20": 64_444_167, "chr22": 50_818_468, "chrX": 156_040_895,
}
GRCH37 = {name: HG19_SIZES[name] for name in GRCH38}
SNVS = {  # SNVs with a Coefficient per experiment, the same in both releases
    "F9": 904, "FOXE1": 1800, "GP1BA": 1154, "HBB": 561, "HBG1": 822, "HNF4A": 855, "LDLR.2": 954, "LDLR": 954,
    "MSMB": 1773, "TERT-GBM": 777, "PKLR-24h": 1407, "PKLR-48h": 1407, "TERT-GAa": 777, "TERT-GSc": 777, "TERT-HEK": 777,
}
KEPT = {"F9": ["F9"], "FOXE1": ["FOXE1"], "GP1BB": ["GP1BA"], "HBB": ["HBB"], "HBG1": ["HBG1"], "HNF4A": ["HNF4A"],
        "LDLR": ["LDLR.2"], "MSMB": ["MSMB"], "TERT": ["TERT-GBM"], "PKLR": ["PKLR-48h"]}
COMPLEMENT = {"A": "T", "C": "G", "G": "C", "T": "A"}


@pytest.fixture(scope="module")
def table_path(shared_data):
    return shared_data / "MPRAProm" / "kircher2019_satmut" / "elements.tsv.gz"


@pytest.fixture(scope="module")
def parsed(table_path):
    return read_kircher(table_path)


@pytest.fixture(scope="module")
def promoter_rows(parsed):
    v = parsed.variants
    return v[v["element"].isin(mp.PROMOTER_EXPERIMENTS)].reset_index(drop=True)


def reference_genome(path, sizes, rows, release):
    """A sizes-only genome (all A) with each element's Ref bases written at their coordinates."""
    genome = sizes_only_genome(path, sizes)
    ref = rows[rows["release"] == release].drop_duplicates(["chrom", "pos"])
    seq = np.memmap(genome.path / "sequence.u8", dtype=np.uint8, mode="r+")
    ci = genome.resolve_many(ref["chrom"].to_numpy())
    seq[genome.offsets[ci] + ref["pos"].to_numpy() - 1] = ASCII_TO_CODE[np.frombuffer("".join(ref["ref"]).encode(), np.uint8)]
    seq.flush()
    del seq
    return open_genome(path)


@pytest.fixture(scope="module")
def g38(tmp_path_factory, promoter_rows):
    return reference_genome(tmp_path_factory.mktemp("g") / "grch38", GRCH38, promoter_rows, "GRCh38")


@pytest.fixture(scope="module")
def g37(tmp_path_factory, promoter_rows):
    return reference_genome(tmp_path_factory.mktemp("g") / "grch37", GRCH37, promoter_rows, "GRCh37")


@pytest.fixture(scope="module")
def store38(tmp_path_factory, table_path, parsed, g38):
    store = mp.build_mpraprom(parsed, g38, tmp_path_factory.mktemp("s") / "mpraprom")
    assert store.card["sources"][0]["path"] == str(table_path.resolve())
    return store


@pytest.fixture(scope="module")
def store_all(tmp_path_factory, parsed, g38):
    return mp.build_mpraprom(parsed, g38, tmp_path_factory.mktemp("s") / "all", choose="all", leakage=False)


def write_table(path, rows):
    """Rows of a parsed table written back as a Kircher table."""
    out = rows[["chrom", "pos", "ref", "alt", "barcodes", "dna", "rna", "coefficient", "pvalue", "element", "release"]]
    out.set_axis(list(KIRCHER_HEADER), axis=1).to_csv(path, sep="\t", index=False)
    return path


@pytest.fixture(scope="module")
def small(tmp_path_factory, promoter_rows):
    """HBB and HBG1 only (both releases), their list, and a GRCh38 genome of chr11 alone."""
    tmp = tmp_path_factory.mktemp("small")
    rows = promoter_rows[promoter_rows["element"].isin(["HBB", "HBG1"])]
    (tmp / "promoters.tsv").write_text("HBB\nHBG1\n")
    genome = reference_genome(tmp / "genome", {"chr11": GRCH38["chr11"]}, rows, "GRCh38")
    return {"tmp": tmp, "rows": rows, "table": write_table(tmp / "t.tsv", rows), "promoters": tmp / "promoters.tsv", "genome": genome}


# ----- the table --------------------------------------------------------------------------------


def test_each_reference_rebuilt_from_ref_matches_every_snv(promoter_rows):
    v = promoter_rows
    assert (v.groupby(["release", "element", "pos"])["ref"].nunique() == 1).all()  # one Ref a position
    span = v.groupby(["release", "element"])["pos"].agg(["min", "max", "nunique"])
    assert (span["nunique"] == span["max"] - span["min"] + 1).all()  # every position of the range has rows
    reference = v.drop_duplicates(["release", "element", "pos"]).sort_values(["release", "element", "pos"])
    snv = v[is_snv(v["ref"].to_numpy(), v["alt"].to_numpy())]
    both = snv.merge(reference, on=["release", "element", "pos"], suffixes=("", "_rebuilt"), validate="many_to_one")
    assert len(both) == len(snv) and (both["ref"] == both["ref_rebuilt"]).all()
    # experiments of one element measured the same sequence; GRCh37 and GRCh38 hold the same bases
    seqs = reference.groupby(["release", "element"])["ref"].agg("".join)
    for release in ("GRCh37", "GRCh38"):
        for group in (["LDLR", "LDLR.2"], ["PKLR-24h", "PKLR-48h"], ["TERT-GBM", "TERT-GAa", "TERT-GSc", "TERT-HEK"]):
            assert seqs.loc[release].loc[group].nunique() == 1
    for element, seq37 in seqs.loc["GRCh37"].items():
        seq38 = seqs.loc["GRCh38"][element]
        want = "".join(COMPLEMENT[b] for b in reversed(seq37)) if element == "MSMB" else seq37  # MSMB is inverted in GRCh38
        assert seq38 == want, element


def test_snv_counts_per_experiment_and_release(promoter_rows, store38):
    v = promoter_rows
    snv = v[is_snv(v["ref"].to_numpy(), v["alt"].to_numpy()) & np.isfinite(v["coefficient"].to_numpy())]
    counts = snv.groupby(["release", "element"]).size()
    for release in ("GRCh37", "GRCh38"):
        assert counts.loc[release].to_dict() == SNVS
    assert (snv.groupby(["release", "element", "pos"]).size() <= 3).all()
    card = store38.card
    assert {e: d["snvs"] for e, d in card["experiments"].items()} == SNVS
    assert card["experiments"]["MSMB"]["unplaced"] == 7 and card["experiments"]["MSMB"]["deletions"] == 246
    assert {e: d["kept"] for e, d in card["experiments"].items()} == {e: e in sum(KEPT.values(), []) for e in SNVS}
    elements = card["elements"]
    assert set(elements) == set(mp.PROMOTER_ELEMENTS)
    assert {e: d["snvs"] for e, d in elements.items()} == {e: SNVS[k[0]] for e, k in KEPT.items()}
    assert {e: d["positions"] for e, d in elements.items()} == {
        "F9": 303, "FOXE1": 600, "GP1BB": 385, "HBB": 187, "HBG1": 274, "HNF4A": 285, "LDLR": 318, "MSMB": 591, "PKLR": 470, "TERT": 259,
    }
    assert elements["FOXE1"]["skipped"] == {"deletions": 248, "other_non_snv": 0, "no_coefficient": 0, "unplaced_na": 0}
    assert card["build"]["snvs_kept"] == 11_007 and card["build"]["positions"] == 3_672
    assert card["build"]["snvs_per_position"] == {"1": 1, "2": 7, "3": 3_664}


# ----- the store ----------------------------------------------------------------------------------


def test_store_rows_labels_and_element_windows(store38, promoter_rows, g38):
    s, r = store38, store38.regions
    assert s.card["release"] == "GRCh38" and s.card["experiment_choice"]["kept"] == KEPT
    assert s.card["sample"] == {"kind": "pair", "length": 1400, "anchor": "region"}
    assert (s.card["metrics"], s.card["loss"], s.card["output_activation"]) == (["spearman"], "mse", "identity")
    assert s.n_rows == 11_007 == sum(SNVS[k[0]] for k in KEPT.values())
    assert r.groupby(["experiment", "pos"]).size().max() == 3
    # labels are the Coefficient of the row's experiment, position and Alt
    v = promoter_rows[promoter_rows["release"] == "GRCh38"].set_index(["element", "pos", "alt"])["coefficient"]
    want = v.loc[list(zip(r["experiment"], r["pos"], r["alt"]))].to_numpy(np.float32)
    np.testing.assert_array_equal(np.asarray(s.labels.dense(np.arange(s.n_rows)))[:, 0], want)
    # both windows: the element's 1400 bp; REF at the variant's index of the reference, ALT of the alternative
    codes = s.sequences(np.arange(s.n_rows), g38)
    rows, at = np.arange(s.n_rows), r["window_index"].to_numpy()
    assert (r["window_index"] == r["pos"] - 1 - r["start"]).all()
    np.testing.assert_array_equal(codes[rows, 0, at], ASCII_TO_CODE[np.frombuffer("".join(r["ref"]).encode(), np.uint8)])
    np.testing.assert_array_equal(codes[rows, 1, at], ASCII_TO_CODE[np.frombuffer("".join(r["alt"]).encode(), np.uint8)])
    assert ((codes[:, 0] != codes[:, 1]).sum(axis=1) == 1).all()
    for element, idx in r.groupby("element").indices.items():
        assert (codes[idx, 0] == codes[idx[0], 0]).all(), element  # one reference window per element
        assert r["start"].iloc[idx].nunique() == 1
    # centre = first + span // 2 (1-based) at index 700: FOXE1 has an even span, F9 an odd one
    foxe1, f9 = s.card["elements"]["FOXE1"], s.card["elements"]["F9"]
    assert (foxe1["first"], foxe1["span"], foxe1["centre"], foxe1["window"]) == (97_853_255, 600, 97_853_555, [97_852_854, 97_854_254])
    assert (f9["first"], f9["span"], f9["centre"], f9["window"]) == (139_530_463, 303, 139_530_614, [139_529_913, 139_531_313])
    assert foxe1["element_index"] == [400, 1000]
    for element, d in s.card["elements"].items():
        assert d["element_index"][0] >= 400 and d["element_index"][1] <= 1000
        assert d["window"][0] == d["centre"] - 1 - 700 and d["window"][1] - d["window"][0] == 1400


def test_split_keeps_positions_whole(store38, store_all):
    for s in (store38, store_all):
        r = s.regions
        assert (r.groupby(["chrom", "pos"], observed=True)["split"].nunique() == 1).all()
        assert s.card["leakage"]["positions_in_several_splits"] == 0
    # stratified by element: each element's positions split round(0.6 n), round(0.2 n), the rest
    for element, d in store38.card["elements"].items():
        n = d["positions"]
        assert d["positions_per_split"] == {"train": round(0.6 * n), "val": round(0.2 * n), "test": n - round(0.6 * n) - round(0.2 * n)}
    assert store38.card["split_rule"]["kind"] == "group" and store38.card["split_rule"]["unit"] == "position"
    assert store38.card["leakage"]["identical_sequences"]["rows"] == 0
    # all experiments: one row per SNV and experiment, the experiments of a position in one split
    a = store_all.regions
    assert store_all.n_rows == sum(SNVS.values()) == 15_699
    assert a.groupby(["chrom", "pos"], observed=True)["experiment"].nunique().max() == 4  # TERT's four
    assert set(a["experiment"]) == set(SNVS)


def test_position_split_is_seeded():
    ci = np.repeat([0, 1], 500)
    pos = np.tile(np.repeat(np.arange(1, 251), 2), 2)
    strata = ci.copy()
    a = mp.position_split(ci, pos, strata, (0.6, 0.2, 0.2), np.random.default_rng(0))
    b = mp.position_split(ci, pos, strata, (0.6, 0.2, 0.2), np.random.default_rng(0))
    c = mp.position_split(ci, pos, strata, (0.6, 0.2, 0.2), np.random.default_rng(1))
    assert (a == b).all() and (a != c).any()
    assert (a[0::2] == a[1::2]).all()  # the two rows of a position together
    assert {k: int((a[ci == 0] == k).sum()) for k in ("train", "val", "test")} == {"train": 300, "val": 100, "test": 100}


def test_grch37_variant_centred_windows_and_named_experiments(tmp_path, parsed, g37):
    s = mp.build_mpraprom(parsed, g37, tmp_path / "s37", window="variant", experiments=["TERT-HEK", "PKLR-24h"], leakage=False)
    r = s.regions
    assert s.card["release"] == "GRCh37" and s.card["sample"] == {"kind": "pair", "length": 1400, "centre": 700}
    assert s.card["experiment_choice"]["kept"]["TERT"] == ["TERT-HEK"] and s.card["experiment_choice"]["kept"]["PKLR"] == ["PKLR-24h"]
    assert s.n_rows == 11_007 and (r["window_index"] == 700).all() and (r["start"] == r["pos"] - 701).all()
    codes = s.sequences(np.arange(s.n_rows), g37)
    np.testing.assert_array_equal(codes[:, 0, 700], ASCII_TO_CODE[np.frombuffer("".join(r["ref"]).encode(), np.uint8)])
    np.testing.assert_array_equal(codes[:, 1, 700], ASCII_TO_CODE[np.frombuffer("".join(r["alt"]).encode(), np.uint8)])
    msmb = r[r["element"] == "MSMB"]
    assert (msmb["pos"].min(), msmb["pos"].max()) == (51_548_988, 51_549_578)


# ----- errors -------------------------------------------------------------------------------------


def test_genome_mismatch_names_element_and_position(tmp_path, small):
    hbb = small["rows"][(small["rows"]["element"] == "HBB") & (small["rows"]["release"] == "GRCh38")]
    genome = reference_genome(tmp_path / "g", {"chr11": GRCH38["chr11"]}, small["rows"], "GRCh38")
    pos = int(hbb["pos"].min()) + 10
    ref = hbb.loc[hbb["pos"] == pos, "ref"].iloc[0]
    wrong = next(b for b in "ACGT" if b != ref)
    seq = np.memmap(genome.path / "sequence.u8", dtype=np.uint8, mode="r+")
    seq[genome.offsets[genome.resolve("chr11")] + pos - 1] = ASCII_TO_CODE[ord(wrong)]
    seq.flush()
    del seq
    with pytest.raises(InputError, match=rf"t.tsv:\d+: element HBB: Ref {ref} at 11:{pos} \(1-based, GRCh38\) is {wrong} in genome .*1 of"):
        mp.build_mpraprom(small["table"], open_genome(genome.path), tmp_path / "out", release="GRCh38", promoters=small["promoters"])
    assert not (tmp_path / "out").exists()
    # the other release's coordinates do not match this genome either
    with pytest.raises(InputError, match="element HB.*GRCh37"):
        mp.build_mpraprom(small["table"], small["genome"], tmp_path / "out", release="GRCh37", promoters=small["promoters"])


def test_element_without_snv_or_off_the_genome_raises(tmp_path, small, promoter_rows):
    f9 = promoter_rows[(promoter_rows["element"] == "F9")]
    only_deletions = pd.concat([small["rows"], f9[f9["alt"] == "-"]])
    table = write_table(tmp_path / "t.tsv", only_deletions)
    (tmp_path / "p.tsv").write_text("HBB\nF9\n")
    with pytest.raises(InputError, match=r"t.tsv: element F9 \(experiment F9\) has no SNV with a Coefficient in release GRCh38"):
        mp.build_mpraprom(table, small["genome"], tmp_path / "out", release="GRCh38", promoters=tmp_path / "p.tsv")
    table = write_table(tmp_path / "t2.tsv", pd.concat([small["rows"], f9]))
    with pytest.raises(InputError, match="element F9 is on chromosome 'X', which genome .* lacks"):
        mp.build_mpraprom(table, small["genome"], tmp_path / "out", release="GRCh38", promoters=tmp_path / "p.tsv")


def test_bad_lists_options_and_rows(tmp_path, small, g38, parsed):
    (tmp_path / "p.tsv").write_text("HBB\nNOPE\n")
    with pytest.raises(InputError, match=r"p.tsv:2: experiment 'NOPE' has no row in"):
        mp.build_mpraprom(small["table"], small["genome"], tmp_path / "out", release="GRCh38", promoters=tmp_path / "p.tsv")
    (tmp_path / "dup.tsv").write_text("HBB\n\nHBB\n")
    with pytest.raises(InputError, match=r"dup.tsv:3: experiment 'HBB' is listed twice \(first on line 1\)"):
        mp.read_experiment_list(tmp_path / "dup.tsv")
    with pytest.raises(ValueError, match="experiments 'TERT-HEK' are not among the listed experiments"):
        mp.build_mpraprom(small["table"], small["genome"], tmp_path / "out", release="GRCh38", promoters=small["promoters"], experiments=["TERT-HEK"])
    with pytest.raises(ValueError, match="release GRCh37 was asked for, but genome .* is GRCh38"):
        mp.build_mpraprom(parsed, g38, tmp_path / "out", release="GRCh37")
    with pytest.raises(ValueError, match="cannot tell the release of genome"):
        mp.build_mpraprom(small["table"], small["genome"], tmp_path / "out", promoters=small["promoters"])
    rows = small["rows"].reset_index(drop=True)
    # two Refs at one position
    clash = rows.copy()
    i = int(np.flatnonzero((clash["element"] == "HBB") & (clash["alt"] == "-") & (clash["release"] == "GRCh38"))[5])
    clash.loc[i, "ref"] = next(b for b in "ACGT" if b != clash.loc[i, "ref"])
    pos = int(clash.loc[i, "pos"])
    with pytest.raises(InputError, match=rf"t.tsv:{i + 2}: element HBB: Ref . \(line \d+\) and Ref . at 11:{pos}"):
        mp.build_mpraprom(write_table(tmp_path / "t.tsv", clash), small["genome"], tmp_path / "out", release="GRCh38", promoters=small["promoters"])
    # one SNV listed twice
    repeat = pd.concat([rows, rows[(rows["element"] == "HBG1") & (rows["alt"] != "-") & (rows["release"] == "GRCh38")].iloc[[3]]])
    with pytest.raises(InputError, match=rf"t2.tsv:{len(rows) + 2}: experiment HBG1 lists 11:\d+ .>. twice in GRCh38"):
        mp.build_mpraprom(write_table(tmp_path / "t2.tsv", repeat), small["genome"], tmp_path / "out", release="GRCh38", promoters=small["promoters"])


def test_element_of_and_spec():
    assert [mp.element_of(e) for e in ("LDLR.2", "PKLR-24h", "TERT-GBM", "GP1BA", "F9")] == ["LDLR", "PKLR", "TERT", "GP1BB", "F9"]
    assert sorted({mp.element_of(e) for e in mp.PROMOTER_EXPERIMENTS}) == sorted(mp.PROMOTER_ELEMENTS)
    spec = mp.MPRAPROM
    assert (spec.input_length, spec.n_labels, spec.label_kind, spec.loss, spec.output) == (1400, 1, "regression", "mse", "identity")
    assert spec.split.fraction_map() == {"train": 0.6, "val": 0.2, "test": 0.2} and spec.split.unit == "position"


def test_cli_prepare_mpraprom(tmp_path, small):
    runner = CliRunner()
    out = tmp_path / "cli"
    args = ["prepare", "mpraprom", str(small["table"]), "--genome", str(small["genome"].path), "--out", str(out)]
    result = runner.invoke(app, [*args, "--release", "GRCh38", "--promoters", str(small["promoters"])])
    assert result.exit_code == 0, result.output
    s = open_store(out, verify=True)
    assert s.n_rows == SNVS["HBB"] + SNVS["HBG1"] and set(s.regions["element"]) == {"HBB", "HBG1"}
    assert s.card["parameters"]["promoters"] == str(small["promoters"])
    bad = runner.invoke(app, [*args[:-1], str(tmp_path / "x"), "--release", "hg19", "--promoters", str(small["promoters"])])
    assert bad.exit_code != 0 and "release must be one of 'auto', 'GRCh37', 'GRCh38'" in bad.output
