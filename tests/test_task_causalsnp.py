"""CausalSNP on the real GTEx v8 DAP-G subset and the four FIVEx PIP tables.

The genome is GRCh38-sized (chr1-chr3, sparse, all A) with the REF base of every SNV of the
files written in, and one REF planted wrong. Expected counts come from the files read again
with plain pandas, independently of `dnabench.io.gtex`.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from dnabench.data.store import open_store
from dnabench.data.task import InputKind, LabelKind, LossKind, Metric
from dnabench.io.files import InputError
from dnabench.io.genome import open_genome
from dnabench.synthetic import sizes_only_genome
from dnabench.tasks.causalsnp import CAUSALSNP, CausalSNPOptions, build_causalsnp

GRCH38 = {"chr1": 248_956_422, "chr2": 242_193_529, "chr3": 198_295_559}
CODE = {"A": 0, "C": 1, "G": 2, "T": 3}


@pytest.fixture(scope="module")
def files(shared_data) -> list[Path]:
    dapg = shared_data / "CausalSNP" / "angiotensinII_lung_dapg" / "DAPG_angiotensin_lung.txt"
    return [dapg, *sorted((shared_data / "CausalSNP" / "fivex_piptables").glob("*.eqtl.pip.txt.gz"))]


@pytest.fixture(scope="module")
def table(files) -> pd.DataFrame:
    """tissue, chrom, pos, ref, alt, pip of every row of the files, read with plain pandas."""
    d = pd.read_csv(files[0], sep="\t")
    parts = d["variant_id"].str.split("_", expand=True)
    frames = [pd.DataFrame({"tissue": d["tissue_id"], "chrom": parts[0], "pos": parts[1].astype(int), "ref": parts[2], "alt": parts[3], "pip": d["variant_pip"]})]
    for path in files[1:]:
        f = pd.read_csv(path, sep="\t", header=None)
        frames.append(pd.DataFrame({"tissue": f[4], "chrom": f[0], "pos": f[1], "ref": f[2], "alt": f[3], "pip": f[7]}))
    out = pd.concat(frames, ignore_index=True)
    out["snv"] = out["ref"].isin(list("ACGT")) & out["alt"].isin(list("ACGT"))
    out["id"] = out["chrom"] + "_" + out["pos"].astype(str) + "_" + out["ref"] + "_" + out["alt"] + "_b38"
    return out


@pytest.fixture(scope="module")
def planted(table) -> str:
    """The SNV whose REF the genome gets wrong: the first Lung DAP-G SNV with PIP < 0.01."""
    lung = table[(table["tissue"] == "Lung") & table["snv"] & (table["pip"] < 0.01) & (table["chrom"] == "chr3")]
    return str(lung["id"].iloc[0])


@pytest.fixture(scope="module")
def genome_path(tmp_path_factory, table, planted) -> Path:
    path = tmp_path_factory.mktemp("grch38") / "genome"
    genome = sizes_only_genome(path, GRCH38)
    snv = table[table["snv"]].drop_duplicates(["chrom", "pos", "ref"])
    assert not snv.duplicated(["chrom", "pos"]).any()  # one REF a position
    offset = genome.offsets[genome.resolve_many(snv["chrom"].to_numpy())] + snv["pos"].to_numpy() - 1
    codes = snv["ref"].map(CODE).to_numpy(dtype=np.uint8)
    codes[(snv["id"] == planted).to_numpy()] = (codes[(snv["id"] == planted).to_numpy()] + 1) % 4
    seq = np.memmap(path / "sequence.u8", dtype=np.uint8, mode="r+")
    seq[offset] = codes
    seq.flush()
    del seq
    return path


def expected(table: pd.DataFrame, planted: str, positive: float = 0.9, negative: float = 0.01) -> pd.DataFrame:
    """Per tissue: positives, negative candidates and variants, from the largest PIP of each SNV."""
    snv = table[table["snv"] & (table["id"] != planted)]
    best = snv.groupby(["tissue", "id"])["pip"].max().reset_index()
    return best.groupby("tissue")["pip"].agg(
        positives=lambda p: int((p > positive).sum()), candidates=lambda p: int((p < negative).sum()), variants="size"
    )


def build(files, genome_path, out, **kw):
    return build_causalsnp(CausalSNPOptions(files=list(files), genome=genome_path, out=out, **kw))


@pytest.fixture(scope="module")
def store(files, genome_path, tmp_path_factory):
    return build(files, genome_path, tmp_path_factory.mktemp("causalsnp") / "store", drop_empty_tissues=True)


def test_spec():
    s = CAUSALSNP
    assert (s.input_kind, s.input_length, s.label_kind, s.loss, s.masked) == (InputKind.PAIR, 1000, LabelKind.MULTILABEL, LossKind.BCE, True)
    assert s.metrics == (Metric.AUROC, Metric.AUPRC) and s.split.fraction_map() == {"train": 0.7, "val": 0.1, "test": 0.2}
    assert s.split.unit == "position" and s.sample() == {"kind": "pair", "length": 1000, "centre": 500}


def test_counts_per_tissue_match_pandas(store, table, planted):
    want = expected(table, planted)
    with_positive = want[want["positives"] > 0]
    card = store.card
    assert store.label_names == sorted(with_positive.index) and len(store.label_names) == 23
    assert set(card["build"]["tissues_dropped"]) == set(want.index) - set(with_positive.index)
    assert card["build"]["tissues_read"] == table["tissue"].nunique() == 47
    labels = np.asarray(store.labels.dense(np.arange(store.n_rows)))
    for j, tissue in enumerate(store.label_names):
        rec, w = card["tissues"][tissue], with_positive.loc[tissue]
        assert (rec["positives"], rec["negative_candidates"], rec["variants"]) == (w["positives"], w["candidates"], w["variants"]), tissue
        assert rec["negatives"] == min(2 * w["positives"], w["candidates"]) == int((labels[:, j] == 0).sum())
        assert rec["negatives_short"] == 2 * w["positives"] - rec["negatives"]
        assert int((labels[:, j] == 1).sum()) == rec["positives"]
    assert card["labels"]["positives"] == [card["tissues"][t]["positives"] for t in store.label_names]
    lung = card["tissues"]["Lung"]  # DAP-G AGTR1 candidates (139 less the planted one) and FIVEx Lung rows
    assert (lung["positives"], lung["negative_candidates"], lung["negatives"]) == (1, 142, 2)
    assert card["tissues"]["Adipose_Visceral_Omentum"]["negatives_short"] == 2


def test_labels_follow_the_pips(store, table, planted):
    snv = table[table["snv"]]
    best = snv.groupby(["tissue", "id"])["pip"].max()
    labels = np.asarray(store.labels.dense(np.arange(store.n_rows)))
    ids = store.regions["variant_id"].to_numpy()
    for j, tissue in enumerate(store.label_names):
        pip = best.loc[tissue]
        assert set(ids[labels[:, j] == 1]) == set(pip.index[pip > 0.9]), tissue
        assert (pip.reindex(ids[labels[:, j] == 0]) < 0.01).all(), tissue  # negatives only below 0.01 in that tissue
    assert not np.isnan(labels).all(axis=1).any()
    assert store.regions["positives"].tolist() == (labels == 1).sum(axis=1).tolist()
    assert planted not in set(ids)


def test_tissues_are_labelled_independently(genome_path, tmp_path):
    rows = [
        ("A", "G1", "chr2_1000_A_G_b38", 0.95), ("B", "G1", "chr2_1000_A_G_b38", 0.001),  # 1 in A, a negative of B
        ("B", "G1", "chr2_2000_A_C_b38", 0.95),
        ("A", "G2", "chr2_3000_A_T_b38", 0.001), ("A", "G1", "chr2_3000_A_T_b38", 0.5),  # largest PIP 0.5: neither
        ("A", "G1", "chr2_4000_A_G_b38", 0.005), ("A", "G2", "chr2_4000_A_G_b38", 0.97),  # causal for G2: positive
        ("A", "G1", "chr2_5000_A_G_b38", 0.002), ("A", "G1", "chr2_5000_A_C_b38", 0.003),  # two alleles of one site
        ("B", "G1", "chr2_6000_A_G_b38", 0.004),
    ]
    path = tmp_path / "toy.txt"
    path.write_text("tissue_id\tgene_id\tcluster_id\tcluster_pip\tvariant_id\tvariant_pip\n" + "".join(f"{t}\t{g}\t1\t1\t{v}\t{p}\n" for t, g, v, p in rows))
    s = build([path], genome_path, tmp_path / "s", leakage=False)
    labels = pd.DataFrame(np.asarray(s.labels.dense(np.arange(s.n_rows))), index=s.regions["variant_id"].str[5:9], columns=s.label_names)
    assert labels.index.tolist() == ["1000", "2000", "4000", "5000", "5000", "6000"]  # 3000: in no tissue
    assert labels.loc["1000"].tolist() == [1.0, 0.0] and labels.loc["4000", "A"] == 1.0 and np.isnan(labels.loc["2000", "A"])
    assert (labels.loc["5000", "A"] == 0).all() and s.regions.loc[s.regions["pos"] == 5000, "split"].nunique() == 1
    a, b = s.card["tissues"]["A"], s.card["tissues"]["B"]
    assert (a["positives"], a["negative_candidates"], a["ambiguous"], a["negatives"], a["negatives_short"]) == (2, 2, 1, 2, 2)
    assert (b["positives"], b["negative_candidates"], b["negatives"]) == (1, 2, 2)


def test_non_snvs_and_ref_mismatches_are_counted(store, table, planted):
    dropped = store.card["dropped"]
    indel_ids = table.loc[~table["snv"], "id"]
    assert dropped["non_snv"] == {"rows": len(indel_ids), "variants": indel_ids.nunique(), "indels": 65, "other": 0}
    assert dropped["non_snv"]["rows"] == 208
    chrom, pos, ref, alt, _ = planted.split("_")
    assert dropped["ref_mismatch"]["variants"] == 1
    assert dropped["ref_mismatch"]["rows"] == int((table["id"] == planted).sum())
    assert dropped["ref_mismatch"]["examples"][0].startswith(f"{chrom}:{pos} {ref}>{alt} (genome ")
    assert dropped["missing_chromosome"]["rows"] == 0
    assert store.card["tissues"]["Lung"]["dropped"]["ref_mismatch"] == 1
    assert store.card["build"]["thresholds"] == {"positive": "pip > 0.9", "negative": "pip < 0.01"}
    assert store.card["genome"]["build"] == "GRCh38" and store.card["build"]["variant_id_builds"] == {"b38": 242}


def test_pairs_centre_the_variant(store, genome_path):
    rows = np.arange(store.n_rows)
    pairs = store.sequences(rows, open_genome(genome_path))
    assert pairs.shape == (store.n_rows, 2, 1000)
    differ = pairs[:, 0] != pairs[:, 1]
    assert (differ.sum(axis=1) == 1).all() and differ[:, 500].all()
    assert (pairs[:, 0, 500] == store.regions["ref"].map(CODE).to_numpy()).all()
    assert (pairs[:, 1, 500] == store.regions["alt"].map(CODE).to_numpy()).all()


def test_no_variant_in_two_splits(store):
    regions = store.regions
    assert not regions["variant_id"].duplicated().any()
    assert (regions.groupby(["chrom", "pos"], observed=True)["split"].nunique() == 1).all()
    leak = store.card["leakage"]
    assert leak["variants_shared_across_splits"] == 0 and leak["positions_shared_across_splits"] == 0
    assert leak["overlapping_intervals"]["rows"] > 0  # nearby variants of one locus: expected, reported
    per_split = store.card["build"]["per_split"]
    assert sum(v["variants"] for v in per_split.values()) == store.n_rows
    assert all(per_split[s]["with_positive"] > 0 for s in ("train", "val", "test"))


def test_seeded(store, files, genome_path, tmp_path):
    again = build(files, genome_path, tmp_path / "again", drop_empty_tissues=True, leakage=False)
    other = build(files, genome_path, tmp_path / "other", drop_empty_tissues=True, leakage=False, seed=1)
    assert again.regions["variant_id"].tolist() == store.regions["variant_id"].tolist()
    assert again.regions["split"].tolist() == store.regions["split"].tolist()
    assert np.array_equal(np.asarray(again.labels.dense(np.arange(again.n_rows))), np.asarray(store.labels.dense(np.arange(store.n_rows))), equal_nan=True)
    assert other.card["tissues"]["Lung"]["negatives"] == 2
    assert other.regions["variant_id"].tolist() != store.regions["variant_id"].tolist()


def test_dapg_alone_has_no_positive_in_lung(files, genome_path, tmp_path, table, planted):
    with pytest.raises(InputError, match=r"DAPG_angiotensin_lung\.txt: tissue 'Lung' has no variant with PIP > 0\.9 \(its largest PIP is 0\.204"):
        build(files[:1], genome_path, tmp_path / "s")
    assert not (tmp_path / "s").exists()
    # thresholds are options: at PIP > 0.2 the top of the first signal cluster are positives
    s = build(files[:1], genome_path, tmp_path / "low", positive_pip=0.2, negatives_per_positive=3, leakage=False)
    lung = table[(table["tissue"] == "Lung") & table["snv"] & (table["id"] != planted) & (table["chrom"] == "chr3")]
    assert s.card["tissues"]["Lung"]["positives"] == int((lung["pip"] > 0.2).sum()) == 3
    assert s.card["tissues"]["Lung"]["negative_candidates"] == int((lung["pip"] < 0.01).sum()) == 138
    assert s.card["tissues"]["Lung"]["negatives"] == 9 and s.card["build"]["thresholds"]["positive"] == "pip > 0.2"
    assert "> 0.2" in s.card["notes"] and "3 per positive" in s.card["notes"]


def test_bad_inputs(files, genome_path, tmp_path):
    text = files[0].read_text().splitlines(keepends=True)
    bad = tmp_path / "bad_id.txt"
    bad.write_text("".join(text[:9] + [text[9].replace("chr3_", "chr3-", 1)] + text[10:]))
    with pytest.raises(InputError, match=r"bad_id\.txt:10: malformed GTEx variant id 'chr3-"):
        build([bad], genome_path, tmp_path / "s")

    row = "chr9\t1000\tA\tG\tHeart_Left_Ventricle\t1\t0.9\t0.95\t1e-5\t0.1\t0.01\n"
    fivex = tmp_path / "ENSG1.eqtl.pip.txt.gz"
    fivex.write_bytes(gzip.compress(gzip.decompress(files[1].read_bytes()) + row.encode()))
    with pytest.raises(InputError, match=r"ENSG1\.eqtl\.pip\.txt\.gz:307: variant chr9:1000 A>G is on chromosome 'chr9'.*--skip-missing"):
        build([fivex], genome_path, tmp_path / "s", drop_empty_tissues=True)
    s = build([fivex], genome_path, tmp_path / "skipped", drop_empty_tissues=True, skip_missing=True, leakage=False)
    assert s.card["dropped"]["missing_chromosome"] == {"rows": 1, "variants": 1, "chromosomes": {"chr9": 1}}
    assert s.card["tissues"]["Heart_Left_Ventricle"]["dropped"]["missing_chromosome"] == 1

    header = tmp_path / "header.txt"
    header.write_text("tissue\tgene\tvariant\tpip\nLung\tG\tchr1_100_A_G_b38\t0.95\n")
    with pytest.raises(InputError, match=r"header\.txt:1: not a fine-mapping table"):
        build([header], genome_path, tmp_path / "s")
    b37 = tmp_path / "b37.txt"
    b37.write_text(text[0] + text[1].replace("_b38", "_b37"))
    with pytest.raises(InputError, match=r"b37\.txt:2: variant ids are build 'b37' \(GRCh37\), but the variants are read as GRCh38"):
        build([b37], genome_path, tmp_path / "s")
    with pytest.raises(ValueError, match="tissue\\(s\\) Brain are not in the files"):
        build(files, genome_path, tmp_path / "s", tissues=["Lung", "Brain"])
    with pytest.raises(ValueError, match="negative_pip < positive_pip"):
        build(files, genome_path, tmp_path / "s", positive_pip=0.01, negative_pip=0.5)
    assert not (tmp_path / "s").exists()


def test_tissues_option(files, genome_path, tmp_path):
    s = build(files, genome_path, tmp_path / "s", tissues=["Lung", "Thyroid"], leakage=False)
    assert s.label_names == ["Lung", "Thyroid"] and s.card["build"]["tissues_dropped"] == {}


def test_prepare_command(files, genome_path, tmp_path):
    from dnabench.cli import app

    runner = CliRunner()
    out = tmp_path / "cli"
    res = runner.invoke(app, ["prepare", "causalsnp", *map(str, files), "--genome", str(genome_path), "--out", str(out), "--drop-empty-tissues", "--no-leakage"])
    assert res.exit_code == 0, res.output
    assert "causalsnp" in res.output and open_store(out).n_labels == 23
    res = runner.invoke(app, ["prepare", "causalsnp", str(files[0]), "-g", str(genome_path), "-o", str(tmp_path / "x"), "--layout", "fivex"])
    assert res.exit_code == 2 and "not a FIVEx PIP table" in res.output
