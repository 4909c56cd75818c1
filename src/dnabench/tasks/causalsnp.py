"""CausalSNP (paper 4.2.1, appendix A.5): likely causal vs likely spurious eQTL variants, per tissue.

Input: GTEx v8 eQTL fine-mapping files (`dnabench.io.gtex`): GTEx's DAP-G table
(``GTEx_v8_finemapping_DAPG.txt[.gz]``) and/or FIVEx's per-gene PIP tables, one layout or
both, detected from each file's first line or given (`layout`). GTEx v8 is GRCh38; the card
records the build and the builder refuses variant ids of another build, or a genome whose
chr1 length says it is another assembly.

Labels, one per tissue (multilabel, NaN = not labelled in that tissue, masked out of the loss
and the metrics). A variant's PIP in a tissue is its largest PIP over the genes fine-mapped in
that tissue (a variant causal for one gene is causal in that tissue, even where it is spurious
for a neighbouring gene; it is spurious only when it is spurious for every gene tested).
- positive (1): PIP > `positive_pip` (0.9);
- negative candidate: PIP < `negative_pip` (0.01); in between: unlabelled (NaN), counted;
- negatives: per tissue, `negatives_per_positive` (2) x positives candidates drawn at random
  without replacement (seeded); fewer when the tissue has fewer candidates (counted as
  `negatives_short`). Candidates not drawn stay NaN.
Tissues are labelled independently: a variant positive in tissue A can be a negative of
tissue B only if its PIP in B is below `negative_pip` (the definition of a negative); its
label is then 1 in A's column and 0 in B's, NaN in tissues where it was not tested or not
drawn. A tissue with no positive (after the filters below) is an error naming it, since
nothing in it can be scored; `drop_empty_tissues` drops such tissues instead (listed).

Rows: one per distinct variant (chrom, pos, ref, alt) labelled in at least one tissue, so no
variant is in two splits by construction. Input is a pair (`dnabench.data.samples`): the
reference window of `input_length` (Track7878's 1000 bp, the backbone's input: appendix A.5)
with the variant at index 500, and the same window with ALT.

Filters, in this order, each counted in the card (rows, distinct variants, per tissue):
1. chromosomes the genome lacks: an `InputError` naming file, line and value, or with
   `skip_missing` dropped;
2. non-SNVs (indels, multi-base substitutions, alleles other than A/C/G/T): skipped;
3. REF checked against the genome (`check_ref`): mismatches dropped, with examples; more than
   `max_ref_mismatch` (a fraction of SNVs) is an error, since it means a wrong genome.

Split: random 70/10/20 by position: the variants at one position (alleles of one site) stay in
one split, and positions are split within two strata (positive in some tissue, or not) so that
every split keeps positives. The card's leakage section reports variants and positions shared
across splits (0 by construction) and, as for every store, identical reference windows and
overlapping windows: variants of one credible set lie within a few kb of each other, so
windows of nearby variants in different splits overlap; those counts are expected and tell how
much flanking sequence the splits share.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from dnabench.data.leakage import leakage_report
from dnabench.data.samples import check_ref, variant_window_starts
from dnabench.data.splits import SPLITS, random_split
from dnabench.data.store import Store, write_store
from dnabench.data.task import Activation, InputKind, LabelKind, LossKind, Metric, SplitKind, SplitRule, TaskSpec
from dnabench.io.files import InputError
from dnabench.io.gtex import GTEX_BUILDS, detect_layout, read_finemapping, variant_ids
from dnabench.io.variants import is_snv
from dnabench.tasks.base import PrepareCommand, option
from dnabench.tasks.card import make_card, options_record
from dnabench.tasks.common import as_genome, child_rngs, guess_build, source_record
from dnabench.tasks.track7878 import TRACK7878

__all__ = ["CAUSALSNP", "CausalSNPOptions", "build_causalsnp", "notes", "read_inputs", "TissuePips", "tissue_labels", "sample_negatives"]

INPUT_LENGTH = TRACK7878.input_length
#: assembly names that mean the same genome (the card and guess_build spell them differently)
_SAME_BUILD = {"grch38": "hg38", "hg38": "hg38", "grch37": "hg19", "hg19": "hg19", "t2t-chm13": "hs1", "hs1": "hs1"}



def notes(
    positive_pip: float = 0.9, negative_pip: float = 0.01, ratio: float = 2.0, length: int = INPUT_LENGTH,
    split: tuple[float, float, float] = (0.7, 0.1, 0.2),
) -> str:
    """The rule in words, with a build's thresholds (the card's `notes`)."""
    split_text = "/".join(f"{100 * f:g}" for f in split)
    return (
        f"GTEx v8 (GRCh38) eQTL fine-mapping PIPs (DAP-G). One label per tissue: 1 where the variant's PIP (the "
        f"largest over the genes fine-mapped in that tissue) > {positive_pip:g}; 0 for negatives drawn at random among "
        f"the variants with PIP < {negative_pip:g} in that tissue, {ratio:g} per positive (fewer when there are not "
        "enough, counted); NaN elsewhere (masked). Tissues are labelled independently: a variant positive in one "
        f"tissue may be a negative of another only where its PIP there is < {negative_pip:g}. SNVs only (indels "
        "counted and skipped); REF checked against the genome, mismatches dropped and counted. One row per variant; "
        f"random {split_text} split by position (the alleles of one site together), stratified by having a positive, so "
        f"no variant is in two splits. Inputs are ref/alt pairs of {length} bp (Track7878's input length) with the "
        f"variant at index {length // 2}."
    )


CAUSALSNP = TaskSpec(
    name="causalsnp",
    title="Causal eQTL variants per tissue, GTEx v8 DAP-G (CausalSNP)",
    paper_section="4.2.1",
    input_kind=InputKind.PAIR,
    input_length=INPUT_LENGTH,
    label_kind=LabelKind.MULTILABEL,
    metrics=(Metric.AUROC, Metric.AUPRC),
    loss=LossKind.BCE,
    masked=True,
    output=Activation.SIGMOID,
    split=SplitRule(SplitKind.GROUP, (0.7, 0.1, 0.2), unit="position", stratify=True),
    metric_scope="per tissue (label) over the variants labelled in it (NaN masked), then macro average over tissues",
    notes=notes(),
)

Layout = Literal["auto", "dapg", "fivex"]


@dataclass
class CausalSNPOptions:
    files: list[Path] = option(help="Fine-mapping files: GTEx DAP-G (GTEx_v8_finemapping_DAPG.txt[.gz]) and/or FIVEx PIP tables.", argument=True)
    genome: Path = option(help="Genome cache folder (GRCh38 for GTEx v8).", short="-g")
    out: Path = option(help="Store folder to create.", short="-o")
    layout: Layout = option("auto", help="Layout of every file: auto (from its first line), dapg or fivex.")
    positive_pip: float = option(0.9, help="A variant is a positive of a tissue where its PIP is above this.")
    negative_pip: float = option(0.01, help="A variant is a negative candidate of a tissue where its PIP is below this.")
    negatives_per_positive: float = option(2.0, help="Negatives drawn per positive in each tissue (fewer when short).")
    tissues: Optional[list[str]] = option(None, help="Tissues to keep, comma-separated (default: all in the files).")
    drop_empty_tissues: bool = option(False, help="Drop tissues without a positive (listed in the card) instead of failing.")
    skip_missing: bool = option(False, help="Drop variants on chromosomes the genome lacks (counted) instead of failing.")
    max_ref_mismatch: float = option(0.05, help="Largest fraction of SNVs whose REF may differ from the genome (dropped, counted).")
    input_length: int = option(INPUT_LENGTH, help="Window length of the ref/alt pair (the backbone's input length).")
    split: tuple[float, float, float] = option((0.7, 0.1, 0.2), help="train,val,test fractions of variant positions.")
    seed: int = option(0, help="Random seed (negatives, split).")
    build: str = option("GRCh38", help="Genome build of the variants (GTEx v8: GRCh38), recorded in the card.")
    leakage: bool = option(True, help="Also count identical reference windows across splits.")
    overwrite: bool = option(False, help="Replace an existing store.")


# ----- reading -----------------------------------------------------------------------------------


def read_inputs(paths: list[Path], layout: str = "auto") -> tuple[pd.DataFrame, list[dict]]:
    """All files as one fine-mapping frame with a `file` column (index into paths), and per-file counts."""
    frames, records = [], []
    for k, path in enumerate(paths):
        frame = read_finemapping(path, layout)
        frame["file"] = np.int32(k)
        frames.append(frame)
        records.append({
            **source_record(path, "fine-mapping"),
            "layout": layout if layout != "auto" else detect_layout(path),
            "rows": len(frame),
            "tissues": int(frame["tissue"].nunique()),
            "genes": int(frame["gene"].nunique()),
        })
    rows = pd.concat(frames, ignore_index=True)
    for col in ("tissue", "gene", "chrom", "build"):  # categories of the files merged, no per-row strings
        rows[col] = pd.Series(union_categoricals([f[col] for f in frames], sort_categories=True), index=rows.index)
    return rows, records


def _where(rows: pd.DataFrame, r: int, paths: list[Path]) -> tuple[Path, int]:
    return paths[int(rows["file"].iat[r])], int(rows["line"].iat[r])


def _variant_text(rows: pd.DataFrame, r: int) -> str:
    return f"{rows['chrom'].iat[r]}:{rows['pos'].iat[r]} {rows['ref'].iat[r]}>{rows['alt'].iat[r]}"


def _check_build(rows: pd.DataFrame, build: str, genome: Any, paths: list[Path]) -> dict:
    """Variant ids of another build, or a genome of another assembly, are errors; returns the ids' builds."""
    want = _SAME_BUILD.get(build.lower(), build.lower())
    suffix = rows["build"].astype(str)
    counts = {str(k): int(v) for k, v in suffix[suffix != ""].value_counts().items()}
    for tag in counts:
        name = GTEX_BUILDS.get(tag, tag)
        if _SAME_BUILD.get(name.lower(), name.lower()) != want:
            r = int(np.argmax((suffix == tag).to_numpy()))
            path, line = _where(rows, r, paths)
            raise InputError(path, f"variant ids are build {tag!r} ({name}), but the variants are read as {build} (--build)", line)
    found = guess_build(genome)
    if found is not None and found != want:
        raise ValueError(
            f"genome {genome.path} looks like {found} (its chr1 length), but the variants are {build}: "
            "index a genome of the variants' build (GTEx v8: GRCh38)"
        )
    return counts


def _chromosomes(rows: pd.DataFrame, genome: Any, paths: list[Path], skip: bool) -> np.ndarray:
    """Genome index of each row's chromosome, -1 where the genome lacks it (an error unless skip)."""
    names = rows["chrom"].cat.categories
    lookup = np.array([genome.resolve(str(n)) if str(n) in genome else -1 for n in names] + [-1], dtype=np.int64)
    ci = lookup[rows["chrom"].cat.codes.to_numpy()]
    if (ci < 0).any() and not skip:
        r = int(np.argmax(ci < 0))
        path, line = _where(rows, r, paths)
        known = ", ".join(genome.names[:30]) + (f", ... ({len(genome)} in all)" if len(genome) > 30 else "")
        raise InputError(
            path,
            f"variant {_variant_text(rows, r)} is on chromosome {str(rows['chrom'].iat[r])!r}, which genome {genome.path} "
            f"does not have (known: {known}); give --skip-missing (skip_missing=True) to drop such variants",
            line,
        )
    return ci


def _per_tissue_variants(rows: pd.DataFrame, mask: np.ndarray) -> dict[str, int]:
    """Distinct variants per tissue among the rows in `mask`."""
    sub = rows.loc[mask, ["tissue", "chrom", "pos", "ref", "alt"]].drop_duplicates()
    return {str(k): int(v) for k, v in sub["tissue"].value_counts().items() if v}


def _distinct(rows: pd.DataFrame, mask: np.ndarray) -> int:
    return int(len(rows.loc[mask, ["chrom", "pos", "ref", "alt"]].drop_duplicates()))


# ----- labels ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TissuePips:
    """The largest PIP of each (tissue, variant) pair, sorted by tissue then variant (genome order).

    Pairs, not a [variants, tissues] matrix: the full GTEx file holds millions of variants and
    49 tissues, and most variants are tested in few of them.
    """

    tissue: np.ndarray
    variant: np.ndarray
    pip: np.ndarray
    bounds: np.ndarray  # pairs of tissue j: bounds[j]:bounds[j + 1]

    @classmethod
    def from_rows(cls, tissue: np.ndarray, variant: np.ndarray, pip: np.ndarray, n_tissues: int, n_variants: int) -> TissuePips:
        key = np.asarray(tissue, dtype=np.int64) * max(n_variants, 1) + np.asarray(variant, dtype=np.int64)
        order = np.argsort(key, kind="stable")
        key, pip = key[order], np.asarray(pip, dtype=np.float64)[order]
        first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if key.size else np.zeros(0, dtype=np.int64)
        best = np.maximum.reduceat(pip, first) if key.size else pip
        t, v = np.divmod(key[first], max(n_variants, 1))
        return cls(t, v, best, np.searchsorted(t, np.arange(n_tissues + 1)))

    def of(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Variants (ascending) and PIPs of tissue j."""
        lo, hi = self.bounds[j], self.bounds[j + 1]
        return self.variant[lo:hi], self.pip[lo:hi]


def sample_negatives(candidates: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` of the candidates (or all of them when fewer), drawn without replacement, sorted."""
    if candidates.size <= n:
        return np.sort(candidates)
    return np.sort(rng.choice(candidates, size=n, replace=False))


def tissue_labels(
    pips: TissuePips, tissues: np.ndarray, options: CausalSNPOptions, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict]]:
    """Labels of the chosen tissues: (variants labelled, float32 labels [rows, tissues] of 1/0/NaN,
    their largest labelled PIP, per tissue counts). Tissues are drawn from `rng` in the given order."""
    picked, stats = [], []
    for j in tissues:
        variant, pip = pips.of(int(j))
        pos = variant[pip > options.positive_pip]
        cand = variant[pip < options.negative_pip]
        want = int(round(options.negatives_per_positive * pos.size))
        neg = sample_negatives(cand, want, rng)
        picked.append((pos, neg, variant, pip))
        stats.append({
            "variants": int(variant.size),
            "positives": int(pos.size),
            "negative_candidates": int(cand.size),
            "ambiguous": int(variant.size - pos.size - cand.size),
            "negatives_wanted": want,
            "negatives": int(neg.size),
            "negatives_short": int(want - neg.size),
        })
    rows = np.unique(np.concatenate([np.concatenate([p, n]) for p, n, _, _ in picked])) if picked else np.zeros(0, np.int64)
    labels = np.full((rows.size, len(picked)), np.nan, dtype=np.float32)
    best = np.full(rows.size, -np.inf)
    for k, (pos, neg, variant, pip) in enumerate(picked):
        for chosen, value in ((pos, 1.0), (neg, 0.0)):
            at = np.searchsorted(rows, chosen)
            labels[at, k] = value
            np.maximum.at(best, at, pip[np.searchsorted(variant, chosen)])
    return rows, labels, best.astype(np.float32), stats


# ----- building ----------------------------------------------------------------------------------


def _check_options(options: CausalSNPOptions) -> None:
    if not options.files:
        raise ValueError("causalsnp needs at least one fine-mapping file")
    if not 0 <= options.negative_pip <= options.positive_pip <= 1 or options.negative_pip == options.positive_pip:
        raise ValueError(
            f"need 0 <= negative_pip < positive_pip <= 1, got negative_pip={options.negative_pip}, positive_pip={options.positive_pip}"
        )
    if not options.negatives_per_positive > 0:
        raise ValueError(f"negatives_per_positive must be > 0, got {options.negatives_per_positive}")
    if not 0 <= options.max_ref_mismatch <= 1:
        raise ValueError(f"max_ref_mismatch is a fraction in [0, 1], got {options.max_ref_mismatch}")
    if options.input_length < 2:
        raise ValueError(f"input_length must be >= 2, got {options.input_length}")
    SplitRule(SplitKind.GROUP, tuple(options.split))  # checks the fractions


def _select_tissues(rows: pd.DataFrame, tissues: list[str] | None) -> pd.DataFrame:
    if not tissues:
        return rows
    known = set(map(str, rows["tissue"].cat.categories))
    unknown = [t for t in tissues if t not in known]
    if unknown:
        raise ValueError(f"tissue(s) {', '.join(unknown)} are not in the files; they hold: {', '.join(sorted(known))}")
    out = rows[rows["tissue"].isin(tissues).to_numpy()].reset_index(drop=True)
    out["tissue"] = out["tissue"].cat.remove_unused_categories()
    return out


def _ref_mismatches(genome: Any, variants: pd.DataFrame, limit: int = 20) -> tuple[np.ndarray, dict]:
    """REF of each distinct variant against the genome: mask of mismatches and the card's record."""
    ok = check_ref(genome, variants["ci"].to_numpy(), variants["pos"].to_numpy(), variants["ref"])
    bad = np.flatnonzero(~ok)
    beyond = variants["pos"].to_numpy() > genome.lengths[variants["ci"].to_numpy()]
    examples = []
    if bad.size:
        shown = bad[:limit]
        got = genome.fetch_batch(variants["ci"].to_numpy()[shown], variants["pos"].to_numpy()[shown] - 1, length=1)[:, 0]
        names = np.asarray(genome.names, dtype=object)
        for k, r in enumerate(shown):
            base = "ACGTN"[min(int(got[k]), 4)]
            examples.append(
                f"{names[variants['ci'].iat[r]]}:{variants['pos'].iat[r]} {variants['ref'].iat[r]}>{variants['alt'].iat[r]} (genome {base})"
            )
    return ~ok, {"variants": int(bad.size), "beyond_chromosome_end": int(beyond.sum()), "examples": examples}


@dataclass
class _Rows:
    """Fine-mapping rows on their way through the filters, with what each filter dropped."""

    rows: pd.DataFrame
    paths: list[Path]
    dropped: dict[str, Any]
    per_tissue: dict[str, dict[str, int]]

    def drop(self, reason: str, mask: np.ndarray, **extra: Any) -> None:
        """Drop the rows in `mask`, counting rows, distinct variants and variants per tissue."""
        self.per_tissue[reason] = _per_tissue_variants(self.rows, mask)
        self.dropped[reason] = {"rows": int(mask.sum()), "variants": _distinct(self.rows, mask), **extra}
        self.rows = self.rows[~mask].reset_index(drop=True)


def _drop_missing_chromosomes(state: _Rows, genome: Any, skip: bool) -> None:
    ci = _chromosomes(state.rows, genome, state.paths, skip)
    missing = ci < 0
    counts = state.rows.loc[missing, "chrom"].astype(str).value_counts()
    state.rows["ci"] = ci
    state.drop("missing_chromosome", missing, chromosomes={str(k): int(v) for k, v in counts.items()})


def _drop_non_snvs(state: _Rows) -> None:
    rows = state.rows
    snv = is_snv(rows["ref"].to_numpy(dtype=object), rows["alt"].to_numpy(dtype=object))
    indel = rows["ref"].str.len().to_numpy() != rows["alt"].str.len().to_numpy()
    state.drop("non_snv", ~snv, indels=_distinct(rows, ~snv & indel), other=_distinct(rows, ~snv & ~indel))


_KEYS = ["ci", "pos", "ref", "alt"]


def _variant_codes(rows: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Each row's distinct variant (numbered in genome order) and the table of distinct variants."""
    keyed = pd.DataFrame({k: rows[k].to_numpy(dtype=object if k in ("ref", "alt") else np.int64) for k in _KEYS})
    grouped = keyed.groupby(_KEYS, sort=True)
    return grouped.ngroup().to_numpy(), grouped.size().reset_index()[_KEYS]


def _drop_ref_mismatches(state: _Rows, genome: Any, options: CausalSNPOptions) -> tuple[np.ndarray, pd.DataFrame]:
    """REF checked once per distinct variant; mismatches dropped (too many: an error). Returns codes and variants."""
    variant, variants = _variant_codes(state.rows)
    mismatch, record = _ref_mismatches(genome, variants)
    if record["variants"] > options.max_ref_mismatch * len(variants):
        path, line = _where(state.rows, int(np.argmax(mismatch[variant])), state.paths)
        raise InputError(
            path,
            f"REF differs from genome {genome.path} for {record['variants']} of {len(variants)} SNVs (more than "
            f"max_ref_mismatch={options.max_ref_mismatch}), e.g. {', '.join(record['examples'][:5])}: is the genome "
            f"{options.build}?",
            line,
        )
    record["snvs_checked"] = int(len(variants))
    state.drop("ref_mismatch", mismatch[variant], **{k: v for k, v in record.items() if k != "variants"})
    renumber = np.cumsum(~mismatch) - 1
    return renumber[variant[~mismatch[variant]]], variants[~mismatch].reset_index(drop=True)


def _tissues_with_positives(pips: TissuePips, names: list[str], tissue_file: pd.Series, state: _Rows, options: CausalSNPOptions) -> tuple[np.ndarray, list[str]]:
    """Indices of the tissues that have a positive, and the names of those dropped (an error unless allowed)."""
    has = np.array([(pips.of(j)[1] > options.positive_pip).any() for j in range(len(names))], dtype=bool)
    lost = set(map(str, tissue_file.index)) - set(names)  # every row of it dropped by a filter
    empty = sorted([t for t, h in zip(names, has) if not h] + list(lost))
    if empty and not options.drop_empty_tissues:
        name = empty[0]
        sub = state.rows.loc[(state.rows["tissue"] == name).to_numpy(), "pip"]
        best = f"its largest PIP is {sub.max():.3g} over {len(sub)} SNV rows" if len(sub) else "no SNV row of it is left after the filters"
        raise InputError(
            state.paths[int(tissue_file[name])],
            f"tissue {name!r} has no variant with PIP > {options.positive_pip} ({best}), so its AUROC/AUPRC cannot be "
            f"computed; pass drop_empty_tissues (--drop-empty-tissues) to drop such tissues ({len(empty)} here: "
            f"{', '.join(empty[:10])}{', ...' if len(empty) > 10 else ''}), or choose tissues (--tissues)",
        )
    if not has.any():
        raise InputError(state.paths[0], f"no tissue has a variant with PIP > {options.positive_pip} in the input files")
    return np.flatnonzero(has), empty


def _split_positions(variants: pd.DataFrame, positive: np.ndarray, fractions: dict[str, float], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Split of each variant, drawn per position (stratified by a positive at the position); and the positions."""
    position = variants.groupby(["ci", "pos"], sort=True).ngroup().to_numpy()
    n = int(position.max()) + 1 if position.size else 0
    has_positive = np.zeros(n, dtype=bool)
    np.logical_or.at(has_positive, position, positive)
    return random_split(n, fractions, rng, strata=has_positive.astype(np.int8))[position], position


def _regions(variants: pd.DataFrame, labels: np.ndarray, max_pip: np.ndarray, split: np.ndarray, genome: Any, length: int) -> pd.DataFrame:
    ci, pos = variants["ci"].to_numpy(), variants["pos"].to_numpy(dtype=np.int64)
    start = variant_window_starts(pos, length)
    names = np.asarray(genome.names, dtype=object)
    return pd.DataFrame({
        "chrom": pd.Categorical.from_codes(ci, categories=genome.names),
        "pos": pos,
        "ref": variants["ref"].to_numpy(dtype=object),
        "alt": variants["alt"].to_numpy(dtype=object),
        "split": split,
        "start": start,
        "end": start + length,
        "strand": "+",
        "variant_id": variant_ids(names[ci], pos, variants["ref"], variants["alt"]),
        "positives": (labels == 1).sum(axis=1).astype(np.int16),
        "negatives": (labels == 0).sum(axis=1).astype(np.int16),
        "max_pip": max_pip,
    })


def _per_split(labels: np.ndarray, split: np.ndarray) -> list[dict]:
    """Positives and negatives of each tissue in each split."""
    return [
        {s: {"positive": int(((labels[:, j] == 1) & (split == s)).sum()), "negative": int(((labels[:, j] == 0) & (split == s)).sum())} for s in SPLITS}
        for j in range(labels.shape[1])
    ]


def build_causalsnp(options: CausalSNPOptions) -> Store:
    """CausalSNP: GTEx fine-mapped variants, PIP > 0.9 vs < 0.01 per tissue, 2 negatives a positive, 1000 bp pairs."""
    _check_options(options)
    genome = as_genome(options.genome)
    paths = [Path(p) for p in options.files]
    rows, inputs = read_inputs(paths, options.layout)
    if not len(rows):
        raise InputError(paths[0], "no fine-mapping rows in the input files")
    id_builds = _check_build(rows, options.build, genome, paths)
    rows = _select_tissues(rows, options.tissues)
    read = {
        "rows_read": len(rows),
        "duplicate_rows": int(rows.duplicated(["tissue", "gene", "chrom", "pos", "ref", "alt"]).sum()),
        "variants_read": _distinct(rows, np.ones(len(rows), dtype=bool)),
    }
    tissue_file = rows.groupby("tissue", observed=True)["file"].min()  # where each tissue is first read
    state = _Rows(rows, paths, {}, {})
    _drop_missing_chromosomes(state, genome, options.skip_missing)
    _drop_non_snvs(state)
    if not len(state.rows):
        raise InputError(paths[0], "no SNV on a chromosome of the genome in the input files")
    variant, variants = _drop_ref_mismatches(state, genome, options)

    tissue = state.rows["tissue"].cat.remove_unused_categories()
    names = [str(t) for t in tissue.cat.categories]
    pips = TissuePips.from_rows(tissue.cat.codes.to_numpy(), variant, state.rows["pip"].to_numpy(), len(names), len(variants))
    keep, empty = _tissues_with_positives(pips, names, tissue_file, state, options)
    tissues = [names[j] for j in keep]
    rng_negatives, rng_split = child_rngs(options.seed, 2)
    labelled, labels, max_pip, stats = tissue_labels(pips, keep, options, rng_negatives)
    variants = variants.iloc[labelled].reset_index(drop=True)

    fractions = dict(zip(SPLITS, (float(f) for f in options.split)))
    positive = (labels == 1).any(axis=1)
    split, position = _split_positions(variants, positive, fractions, rng_split)
    length = int(options.input_length)
    regions = _regions(variants, labels, max_pip, split, genome, length)
    split = np.asarray(split, dtype=str)

    ci, start = variants["ci"].to_numpy(), regions["start"].to_numpy()
    fetch = (lambda r: genome.fetch_batch(ci[r], start[r], length=length)) if options.leakage else None  # noqa: E731
    leakage = {**leakage_report(regions, fetch), **_shared_across_splits(variants, position, split)}
    for t, record, by_split in zip(tissues, stats, _per_split(labels, split)):
        record["per_split"] = by_split
        record["dropped"] = {reason: counts.get(t, 0) for reason, counts in state.per_tissue.items()}

    spec = CAUSALSNP.with_(input_length=length, n_labels=len(tissues))
    card = make_card(
        spec,
        label_names=tissues,
        labels_extra={
            "positives": [s["positives"] for s in stats],
            "negatives": [s["negatives"] for s in stats],
            "observed_per_label": (~np.isnan(labels)).sum(axis=0).tolist(),
        },
        genome=genome,
        genome_build=options.build,
        sources=inputs,
        parameters={**options_record(options), "genome": str(genome.path)},
        build={
            "rule": (
                f"per tissue: 1 where the variant's PIP (largest over that tissue's genes) > {options.positive_pip}; "
                f"0 for {options.negatives_per_positive:g} per positive drawn at random among PIP < {options.negative_pip}; "
                "NaN elsewhere"
            ),
            "thresholds": {"positive": f"pip > {options.positive_pip}", "negative": f"pip < {options.negative_pip}"},
            "negatives_per_positive": options.negatives_per_positive,
            "variant_id_builds": id_builds,
            **read,
            "variants_labelled": len(regions),
            "positions": int(position.max()) + 1 if position.size else 0,
            "tissues_read": len(tissue_file),
            "tissues_kept": len(tissues),
            "tissues_dropped": {t: "no positive" for t in empty},
            "tissues_without_negatives": [t for t, r in zip(tissues, stats) if r["negatives"] == 0],
            "positives": int((labels == 1).sum()),
            "negatives": int((labels == 0).sum()),
            "negatives_short": int(sum(s["negatives_short"] for s in stats)),
            "per_split": {s: {"variants": int((split == s).sum()), "with_positive": int((positive & (split == s)).sum())} for s in SPLITS},
        },
        split_rule={**spec.split.to_dict(), "fractions": fractions, "stratify": "positive in at least one tissue", "seed": options.seed},
        leakage=leakage,
        columns={
            "variant_id": "GTEx-style id chrom_pos_ref_alt_b38",
            "positives": "tissues where the variant is a positive",
            "negatives": "tissues where the variant was drawn as a negative",
            "max_pip": "largest PIP of the variant over the tissues where it is labelled",
        },
        notes=notes(options.positive_pip, options.negative_pip, options.negatives_per_positive, length, tuple(options.split)),
        dropped=state.dropped,
        tissues=dict(zip(tissues, stats)),
    )
    return write_store(options.out, card, regions, labels, overwrite=options.overwrite)


def _shared_across_splits(variants: pd.DataFrame, position: np.ndarray, split: np.ndarray) -> dict:
    """Distinct variants and positions found in more than one split (0 by construction), with the why of the rest."""
    def shared(keys: np.ndarray) -> int:
        frame = pd.DataFrame({"key": keys, "split": split}).drop_duplicates()
        return int((frame.groupby("key")["split"].nunique() > 1).sum())

    variant_key = variants.groupby(["ci", "pos", "ref", "alt"], sort=False).ngroup().to_numpy()
    return {
        "variants_shared_across_splits": shared(variant_key),
        "positions_shared_across_splits": shared(position),
        "note": (
            "each variant (and each position) is in exactly one split; windows of nearby variants (< input_length "
            "apart, common within a credible set) in different splits overlap, so overlapping_intervals counts them: "
            "expected, and a measure of the flanking sequence the splits share"
        ),
    }


PREPARE = (PrepareCommand("causalsnp", CausalSNPOptions, build_causalsnp, CAUSALSNP),)
