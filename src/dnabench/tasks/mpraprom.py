"""MPRAProm (paper 4.2.2, appendix A.6): log2 variant effects of promoter SNVs from saturation MPRA.

Input: the Kircher et al. 2019 table (`elements.tsv.gz`, read by `dnabench.io.kircher`), the
list of promoter experiments (`promoters.tsv` of the same repository; built in when not
given) and a genome cache of the chosen release. Output: a pair store, one row per SNV:
reference and alternative 1400 bp windows, label = Coefficient (log2 variant effect).

Elements. The ten promoters F9, FOXE1, GP1BB, HBB, HBG1, HNF4A, LDLR, MSMB, PKLR and TERT,
from the 15 experiments of promoters.tsv. An experiment's element is its name up to the first
"." or "-" (LDLR.2 -> LDLR, PKLR-24h -> PKLR, TERT-GBM -> TERT); the table names the GP1BB
promoter GP1BA (the source's element table calls it GP1BB, NM_000407), so the element is
GP1BB and the experiment keeps the table's name.

Experiments measured more than once (`choose`):
- "most-barcodes" (default): one experiment per element, the one whose SNVs carry the most
  barcodes in all (ties: the first in promoters.tsv). The paper uses ten promoter sequences
  and at most three samples a position, so one measurement per element; the barcode count is
  the measurement depth behind each coefficient, so the deepest experiment gives the least
  noisy labels. On the real table (either release) it keeps LDLR.2 (345,862 barcodes over its
  SNVs vs 277,460 for LDLR), PKLR-48h (227,705 vs 200,983 at 24 h; 48 h is also the
  transfection time the source lists for PKLR) and TERT-GBM (256,985; glioblastoma cells)
  over TERT-HEK (251,629; HEK293T), TERT-GSc (245,710) and TERT-GAa (242,435).
- "all": every experiment, one row per SNV and experiment (column `experiment`), so a position
  holds up to 3 SNVs per experiment of its element. The split unit is the genomic position, so
  every measurement of a position, in every experiment, lies in one split: no position is seen
  in training and scored in test.
- `experiments` names experiments to use for their elements whatever `choose` says
  (`--experiments PKLR-24h,TERT-HEK`); elements it does not name follow `choose`.

Rows. Only SNVs (Ref and Alt single bases A/C/G/T, Alt != Ref) with a Coefficient are kept;
1-bp deletions (Alt "-"), other non-SNV rows, rows without a Coefficient and the table's NA
rows (tags not placed on the element) are skipped and counted per experiment. Within one
experiment and release a (position, Alt) pair occurs once (a repeat is an InputError naming
the line), so a position has at most 3 SNVs: the three other bases. Rows of the other release
are ignored (the table lists every variant once per release; alleles are on the + strand of
that release, so MSMB, whose region is inverted in GRCh38, has complemented alleles there).

Reference check. Each element's reference is rebuilt from the Ref column of all its rows (SNVs
and deletions; every measured position has rows): one Ref per position, or an InputError
naming the element and position. Every rebuilt base must equal the genome at (Chrom, Pos):
a mismatch is an InputError naming the element, the position, both bases and the release, so
a genome of the wrong build fails at once rather than giving wrong windows. An element on a
chromosome the genome lacks, and an element with no SNV, are errors naming the element.

Window (`window`):
- "element" (default, the paper's rule): the measured range of an element is [first, last],
  the smallest and largest Pos of its rows (1-based, inclusive; over every kept experiment of
  the element), span = last - first + 1. Its centre is the 1-based position
  ``centre = first + span // 2`` (for an even span the right one of the two middle bases, as
  the pair kind's centre index L // 2) and the window is the 0-based half-open
  ``[centre - 1 - L // 2, centre - 1 - L // 2 + L)``: the centre base sits at index L // 2 =
  700 and every variant of the element is seen in the same 1400 bp (the store's region-anchored
  pair sample, `pair_sample(L, anchor="region")`), at index ``pos - 1 - start`` (column
  `window_index`). The elements are at most 600 bp, so the element lies within indices
  [400, 1000) with at least 400 bp of genome on each side.
- "variant": the window is centred on the variant as every other pair store
  (``[pos - 1 - L // 2, + L)``, the variant at index L // 2); the element is then inside
  every window too (span <= 600 < 700), at a different place per variant.
Windows are read on the + strand (REF and ALT as the table gives them); bases past a
chromosome end would be N (counted in the card).

Split: by genomic position (chrom, pos), 60/20/20, seeded, stratified by element (each element
contributes 60/20/20 of its positions), all SNVs of a position in one split
(`SplitKind.GROUP`, unit "position"). The paper's metric is Spearman over all test SNVs.

Leakage: by design every row of an element shares its reference window and overlaps every
other row of it (element windows), so "identical" is measured on the alternative windows (an
alternative window determines its pair); the card also counts positions found in more than
one split (0 by construction).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

import numpy as np
import pandas as pd

from dnabench.data.leakage import leakage_report
from dnabench.data.samples import Alleles, check_ref, gather_pairs, variant_offsets
from dnabench.data.splits import SPLITS, random_split
from dnabench.data.store import Store, write_store
from dnabench.data.task import Activation, InputKind, LabelKind, LossKind, Metric, SplitKind, SplitRule, TaskSpec
from dnabench.io.files import InputError, read_all
from dnabench.io.kircher import DELETION, RELEASES, KircherTable, read_kircher
from dnabench.io.variants import is_snv
from dnabench.tasks.base import PrepareCommand, option
from dnabench.tasks.card import make_card
from dnabench.tasks.common import as_genome, child_rngs, guess_build, source_record

__all__ = [
    "MPRAPROM",
    "PROMOTER_EXPERIMENTS",
    "PROMOTER_ELEMENTS",
    "INPUT_LENGTH",
    "MPRAPromOptions",
    "element_of",
    "read_experiment_list",
    "element_references",
    "element_windows",
    "build_mpraprom",
]

INPUT_LENGTH = 1400
#: promoters.tsv of kircherlab/MPRA_SaturationMutagenesis, in its order
PROMOTER_EXPERIMENTS: tuple[str, ...] = (
    "F9", "FOXE1", "GP1BA", "HBB", "HBG1", "HNF4A", "LDLR.2", "LDLR", "MSMB",
    "TERT-GBM", "PKLR-24h", "PKLR-48h", "TERT-GAa", "TERT-GSc", "TERT-HEK",
)
PROMOTER_ELEMENTS: tuple[str, ...] = ("F9", "FOXE1", "GP1BB", "HBB", "HBG1", "HNF4A", "LDLR", "MSMB", "PKLR", "TERT")
#: experiment-name stems of the table that name another element
ELEMENT_NAMES = {"GP1BA": "GP1BB"}
#: the genome build names that go with each release
_BUILDS = {"hg38": "GRCh38", "hg19": "GRCh37"}
_LABEL = "log2_effect"

MPRAPROM = TaskSpec(
    name="mpraprom",
    title="Promoter SNV effects from saturation-mutagenesis MPRA (MPRAProm)",
    paper_section="4.2.2",
    input_kind=InputKind.PAIR,
    input_length=INPUT_LENGTH,
    label_kind=LabelKind.REGRESSION,
    n_labels=1,
    metrics=(Metric.SPEARMAN,),
    loss=LossKind.MSE,
    output=Activation.IDENTITY,
    split=SplitRule(SplitKind.GROUP, (0.6, 0.2, 0.2), unit="position"),
    pair_anchor="region",
    metric_scope="Spearman over all test SNVs, all elements pooled",
    notes=(
        "Kircher et al. 2019 saturation MPRA, 10 promoter elements (one experiment each by default: the "
        "one with the most barcodes); SNVs only, at most 3 per position; label = Coefficient (log2 variant "
        "effect); both windows are the 1400 bp centred on the element's measured range (centre = first + "
        "span // 2, 1-based, at index 700); split 60/20/20 by genomic position, stratified by element."
    ),
)

Choose = Literal["most-barcodes", "all"]
Window = Literal["element", "variant"]
Release = Literal["auto", "GRCh37", "GRCh38"]


# ----- experiments -------------------------------------------------------------------------------


def element_of(experiment: str) -> str:
    """The element an experiment measured: its name up to the first '.' or '-' (GP1BA -> GP1BB)."""
    stem = re.split(r"[.\-]", str(experiment), maxsplit=1)[0]
    return ELEMENT_NAMES.get(stem, stem)


def read_experiment_list(path: str | os.PathLike) -> list[tuple[str, int]]:
    """(experiment, line) of a promoters.tsv-style list: one name a line, blank and # lines skipped."""
    path = Path(path)
    out: list[tuple[str, int]] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(read_all(path).decode("utf-8", "replace").splitlines(), start=1):
        name = raw.strip()
        if not name or name.startswith("#"):
            continue
        if "\t" in name or " " in name:
            raise InputError(path, f"expected one experiment name a line, got {name!r}", number)
        if name in seen:
            raise InputError(path, f"experiment {name!r} is listed twice (first on line {seen[name]})", number)
        seen[name] = number
        out.append((name, number))
    if not out:
        raise InputError(path, "lists no experiment")
    return out


def _experiment_stats(rows: pd.DataFrame, unplaced: pd.DataFrame, experiments: Sequence[str]) -> pd.DataFrame:
    """Per experiment: rows, SNVs kept, skipped rows by reason, barcodes of the kept SNVs."""
    names = list(experiments)
    experiment = rows["element"].to_numpy(dtype=object)
    alt = rows["alt"].to_numpy()
    snv = is_snv(rows["ref"].to_numpy(), alt)
    labelled = np.isfinite(rows["coefficient"].to_numpy())

    def per(values: np.ndarray) -> pd.Series:
        return pd.Series(values, dtype=np.int64).groupby(experiment).sum().reindex(names, fill_value=0)

    return pd.DataFrame(
        {
            "snvs": per(snv & labelled),
            "deletions": per(alt == DELETION),
            "other": per(~snv & (alt != DELETION)),
            "no_coefficient": per(snv & ~labelled),
            "unplaced": unplaced.groupby("element").size().reindex(names, fill_value=0),
            "rows": per(np.ones(len(rows), dtype=np.int64)),
            "positions": rows.groupby("element")["pos"].nunique().reindex(names, fill_value=0),
            "barcodes": per(np.where(snv & labelled, rows["barcodes"].to_numpy(), 0)),
        },
        index=names,
    ).astype(np.int64)


def _choose(stats: pd.DataFrame, listed: Sequence[str], choose: str, explicit: Sequence[str]) -> dict[str, list[str]]:
    """The experiments kept for each element, in the order of the list."""
    by_element: dict[str, list[str]] = {}
    for name in listed:
        by_element.setdefault(element_of(name), []).append(name)
    named: dict[str, list[str]] = {}
    for name in explicit:
        named.setdefault(element_of(name), []).append(name)
    kept: dict[str, list[str]] = {}
    for element, names in by_element.items():
        if element in named:
            kept[element] = [n for n in names if n in named[element]]
        elif choose == "all":
            kept[element] = list(names)
        else:
            barcodes = stats.loc[names, "barcodes"].to_numpy()
            kept[element] = [names[int(np.argmax(barcodes))]]  # argmax: the first of ties
    return kept


# ----- the reference of each element -------------------------------------------------------------


def element_references(rows: pd.DataFrame, path: str | os.PathLike) -> pd.DataFrame:
    """One row per (element, position): chrom, pos, ref, line, rebuilt from the Ref of every row.

    `rows` needs columns element_name (the element), chrom, pos, ref, line. Two Refs at one
    position or two chromosomes in one element raise InputError naming the element and position.
    """
    cols = ["element_name", "chrom", "pos", "ref", "line"]
    distinct = rows[cols].drop_duplicates(["element_name", "pos", "ref"])
    clash = distinct.duplicated(["element_name", "pos"], keep=False).to_numpy()
    if clash.any():
        both = distinct[clash].sort_values(["element_name", "pos", "line"])
        first = both.iloc[0]
        other = both[(both["element_name"] == first["element_name"]) & (both["pos"] == first["pos"])].iloc[1]
        raise InputError(
            path,
            f"element {first['element_name']}: Ref {first['ref']} (line {first['line']}) and Ref {other['ref']} at "
            f"{first['chrom']}:{first['pos']}; one position has one reference base",
            int(other["line"]),
        )
    chroms = distinct.groupby("element_name", sort=False)["chrom"].nunique()
    if (chroms > 1).any():
        element = chroms.index[int(np.argmax((chroms > 1).to_numpy()))]
        sub = distinct[distinct["element_name"] == element]
        raise InputError(path, f"element {element} has rows on chromosomes {', '.join(sorted(sub['chrom'].unique()))}", int(sub["line"].iloc[-1]))
    return distinct.sort_values(["element_name", "pos"], kind="stable").reset_index(drop=True)


def element_windows(reference: pd.DataFrame, length: int) -> pd.DataFrame:
    """Per element: chrom, first, last (1-based), span, centre (1-based) and its window [start, end) (0-based).

    centre = first + span // 2; start = centre - 1 - length // 2, so the centre base is at index length // 2.
    """
    g = reference.groupby("element_name", sort=False)
    out = pd.DataFrame({"chrom": g["chrom"].first(), "first": g["pos"].min(), "last": g["pos"].max(), "reference_positions": g.size()})
    out["span"] = out["last"] - out["first"] + 1
    out["centre"] = out["first"] + out["span"] // 2
    out["start"] = out["centre"] - 1 - int(length) // 2
    out["end"] = out["start"] + int(length)
    return out


def _check_genome(genome: Any, reference: pd.DataFrame, path: Path, release: str) -> np.ndarray:
    """Chromosome index of each reference row; every rebuilt base equals the genome, or InputError."""
    chroms = reference["chrom"].astype(str)
    known = {c: (genome.resolve(c) if c in genome else -1) for c in chroms.unique()}
    ci = chroms.map(known).to_numpy(dtype=np.int64)
    if (ci < 0).any():
        r = reference.iloc[int(np.argmax(ci < 0))]
        names = genome.names
        raise InputError(
            path,
            f"element {r['element_name']} is on chromosome {r['chrom']!r}, which genome {genome.path} lacks "
            f"(known: {', '.join(names[:30])}{', ...' if len(names) > 30 else ''})",
            int(r["line"]),
        )
    ok = check_ref(genome, ci, reference["pos"].to_numpy(), reference["ref"])
    if not ok.all():
        bad = np.flatnonzero(~ok)
        r = reference.iloc[int(bad[0])]
        base = genome.fetch_batch(ci[bad[:1]], reference["pos"].to_numpy()[bad[:1]] - 1, length=1)[0, 0]
        got = "ACGTN"[int(base)] if int(base) < 5 else "?"
        elements = reference["element_name"].iloc[bad].unique()
        raise InputError(
            path,
            f"element {r['element_name']}: Ref {r['ref']} at {r['chrom']}:{r['pos']} (1-based, {release}) is {got} in "
            f"genome {genome.path}; {bad.size} of {len(reference)} reference positions differ "
            f"(elements {', '.join(map(str, elements))}): is the genome {release}?",
            int(r["line"]),
        )
    return ci


# ----- split -------------------------------------------------------------------------------------


def position_split(ci: np.ndarray, pos: np.ndarray, strata: np.ndarray, fractions: Sequence[float], rng: np.random.Generator) -> np.ndarray:
    """Split names by genomic position: every row of one (chromosome, pos) in one split, stratified."""
    key = np.asarray(ci, dtype=np.int64) << np.int64(32) | np.asarray(pos, dtype=np.int64)
    groups, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    split = random_split(groups.size, list(fractions), rng, strata=np.asarray(strata)[first])
    return split[inverse.reshape(-1)]


# ----- build -------------------------------------------------------------------------------------


def _release(genome: Any, release: str) -> str:
    guessed = _BUILDS.get(guess_build(genome) or "")
    if release == "auto":
        if guessed is None:
            raise ValueError(
                f"cannot tell the release of genome {genome.path} from the length of chr1; pass release "
                f"(--release) {' or '.join(RELEASES)}"
            )
        return guessed
    if release not in RELEASES:
        raise ValueError(f"release must be auto, {' or '.join(RELEASES)}; got {release!r}")
    if guessed is not None and guessed != release:
        raise ValueError(f"release {release} was asked for, but genome {genome.path} is {guessed} (length of chr1)")
    return release


def _listed(promoters: Optional[Path], table: KircherTable) -> list[tuple[str, int | None]]:
    """The experiments considered, each present in the table, with its line in the list file."""
    listed = read_experiment_list(promoters) if promoters is not None else [(n, None) for n in PROMOTER_EXPERIMENTS]
    present = set(table.variants["element"].unique()) | set(table.unplaced["element"].unique())
    for name, line in listed:
        if name not in present:
            where = promoters if promoters is not None else table.path
            hint = "" if promoters is not None else " (the built-in list is promoters.tsv of the source; pass promoters to choose others)"
            raise InputError(where, f"experiment {name!r} has no row in {table.path}{hint}", line)
    return listed


def _card_elements(
    windows: pd.DataFrame, kept: dict[str, list[str]], stats: pd.DataFrame, regions: pd.DataFrame, anchor: str
) -> dict[str, Any]:
    """The card's per-element section: experiments kept, range, window, counts per split, skipped rows."""
    out: dict[str, Any] = {}
    split = regions["split"].to_numpy(dtype=str)
    for element, w in windows.iterrows():
        mine = (regions["element"] == element).to_numpy()
        exps = kept[element]
        positions = regions.loc[mine, "pos"]
        out[str(element)] = {
            "experiments": exps,
            "chrom": str(w["chrom"]),
            "first": int(w["first"]),
            "last": int(w["last"]),
            "span": int(w["span"]),
            "centre": int(w["centre"]),
            "window": [int(w["start"]), int(w["end"])] if anchor == "element" else "centred on each variant",
            "element_index": [int(w["first"] - 1 - w["start"]), int(w["last"] - w["start"])] if anchor == "element" else None,
            "reference_positions": int(w["reference_positions"]),
            "positions": int(positions.nunique()),
            "snvs": int(mine.sum()),
            "snvs_per_split": {k: int((mine & (split == k)).sum()) for k in SPLITS},
            "positions_per_split": {k: int(positions[split[mine] == k].nunique()) for k in SPLITS},
            "skipped": _skipped(stats, exps),
        }
    return out


def _select(
    parsed: KircherTable, names: Sequence[str], release: str, choose: str, explicit: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, list[str]]]:
    """Rows of the kept experiments in `release` (with element_name), per-experiment counts, the choice."""
    variants, unplaced = parsed.variants, parsed.unplaced
    rows = variants[variants["element"].isin(names) & (variants["release"] == release)]
    unplaced = unplaced[unplaced["element"].isin(names) & (unplaced["release"] == release)]
    stats = _experiment_stats(rows, unplaced, names)
    kept = _choose(stats, names, choose, explicit)
    for element, exps in kept.items():
        if stats.loc[exps, "snvs"].sum() == 0:
            raise InputError(
                parsed.path,
                f"element {element} (experiment{'s' if len(exps) > 1 else ''} {', '.join(exps)}) has no SNV with a "
                f"Coefficient in release {release}",
            )
    kept_names = [e for exps in kept.values() for e in exps]
    rows = rows[rows["element"].isin(kept_names)].copy()
    rows["element_name"] = rows["element"].map({e: element_of(e) for e in kept_names})
    return rows, stats, kept


def _snvs(rows: pd.DataFrame, path: Path, release: str) -> pd.DataFrame:
    """The SNVs with a Coefficient, each (experiment, pos, alt) once, in element, position, Alt order."""
    snv = rows[is_snv(rows["ref"].to_numpy(), rows["alt"].to_numpy()) & np.isfinite(rows["coefficient"].to_numpy())]
    repeat = snv.duplicated(["element", "pos", "alt"]).to_numpy()
    if repeat.any():
        r = snv.iloc[int(np.argmax(repeat))]
        raise InputError(path, f"experiment {r['element']} lists {r['chrom']}:{r['pos']} {r['ref']}>{r['alt']} twice in {release}", int(r["line"]))
    return snv.sort_values(["element_name", "element", "pos", "alt"], kind="stable").reset_index(drop=True)


def _regions(snv: pd.DataFrame, genome: Any, ci: np.ndarray, start: np.ndarray, split: np.ndarray, length: int) -> pd.DataFrame:
    """The store's regions: the variant, its window, split, element, experiment and the table's counts."""
    pos = snv["pos"].to_numpy(dtype=np.int64)
    return pd.DataFrame(
        {
            "chrom": pd.Categorical(np.asarray(genome.names, dtype=object)[ci]),
            "pos": pos,
            "ref": snv["ref"].to_numpy(dtype=object),
            "alt": snv["alt"].to_numpy(dtype=object),
            "start": start,
            "end": start + length,
            "strand": "+",
            "split": split,
            "element": snv["element_name"].to_numpy(dtype=object),
            "experiment": snv["element"].to_numpy(dtype=object),
            "window_index": (pos - 1 - start).astype(np.int32),
            "barcodes": snv["barcodes"].to_numpy(dtype=np.int64),
            "dna": snv["dna"].to_numpy(dtype=np.int64),
            "rna": snv["rna"].to_numpy(dtype=np.int64),
            "pvalue": snv["pvalue"].to_numpy(dtype=np.float64),
            "source_line": snv["line"].to_numpy(dtype=np.int64),
        }
    )


def _leakage(regions: pd.DataFrame, genome: Any, ci: np.ndarray, sample: dict[str, Any], sequences: bool) -> dict[str, Any]:
    """Overlaps and identical alternative windows across splits, and positions found in several splits."""
    leak: dict[str, Any] = {}
    if sequences:
        pos, start = regions["pos"].to_numpy(), regions["start"].to_numpy()
        alts = Alleles.from_strings(regions["alt"])

        def alt_windows(idx: np.ndarray) -> np.ndarray:
            offsets = variant_offsets(pos[idx], start[idx], sample)
            return gather_pairs(genome, ci[idx], start[idx], None, alts.take(idx), sample, offsets=offsets)[:, 1]

        leak = leakage_report(regions, alt_windows)
        leak["identical_sequences_of"] = "the alternative window of each row (it determines the pair)"
    per_position = regions.groupby(["chrom", "pos"], observed=True)["split"].nunique()
    leak["positions_in_several_splits"] = int((per_position > 1).sum())
    return leak


def _window_rule(window: str, length: int) -> str:
    half = length // 2
    if window == "element":
        return (
            f"element: [first, last] = smallest and largest Pos (1-based) of the element's rows; span = last - first + 1; "
            f"centre = first + span // 2 (1-based); window = [centre - 1 - {half}, centre - 1 - {half} + {length}) "
            f"0-based half-open, the centre at index {half}, the variant at index pos - 1 - start"
        )
    return f"variant: window = [pos - 1 - {half}, pos - 1 - {half} + {length}) 0-based half-open, the variant at index {half}"


def _skipped(stats: pd.DataFrame, experiments: Sequence[str]) -> dict[str, int]:
    s = stats.loc[list(experiments)]
    return {
        "deletions": int(s["deletions"].sum()),
        "other_non_snv": int(s["other"].sum()),
        "no_coefficient": int(s["no_coefficient"].sum()),
        "unplaced_na": int(s["unplaced"].sum()),
    }


_COLUMNS = {
    "element": "promoter element (GP1BB is the table's GP1BA)",
    "experiment": "the table's Element: the experiment the row comes from",
    "window_index": "index of the variant in its + strand window (pos - 1 - start)",
    "barcodes": "unique tags of the variant (Barcodes)",
    "dna": "DNA read count of the variant",
    "rna": "RNA read count of the variant",
    "pvalue": "p-value of the coefficient (pValue)",
    "source_line": "line of the row in the table",
}


def build_mpraprom(
    table: str | os.PathLike | KircherTable,
    genome: Any,
    out: str | os.PathLike,
    *,
    release: str = "auto",
    promoters: str | os.PathLike | None = None,
    choose: str = "most-barcodes",
    experiments: Sequence[str] | None = None,
    window: str = "element",
    seed: int = 0,
    input_length: int = INPUT_LENGTH,
    split_fractions: Sequence[float] = (0.6, 0.2, 0.2),
    leakage: bool = True,
    overwrite: bool = False,
) -> Store:
    """Build the MPRAProm pair store from the Kircher 2019 table and a genome cache; returns it opened.

    `table` is the table's path or the `KircherTable` already read from it (several builds of one
    table, both releases say, parse it once).
    """
    if choose not in ("most-barcodes", "all"):
        raise ValueError(f"choose must be most-barcodes or all; got {choose!r}")
    if window not in ("element", "variant"):
        raise ValueError(f"window must be element or variant; got {window!r}")
    length = int(input_length)
    if length < 1:
        raise ValueError(f"input_length must be >= 1; got {input_length}")
    rule = SplitRule(SplitKind.GROUP, tuple(split_fractions), unit="position")  # checks the fractions
    genome = as_genome(genome)
    release = _release(genome, release)
    parsed = table if isinstance(table, KircherTable) else read_kircher(table)
    promoters_path = None if promoters is None else Path(promoters)
    names = [n for n, _ in _listed(promoters_path, parsed)]
    explicit = list(experiments or [])
    unknown = [e for e in explicit if e not in names]
    if unknown:
        raise ValueError(f"experiments {', '.join(map(repr, unknown))} are not among the listed experiments ({', '.join(names)})")

    rows, stats, kept = _select(parsed, names, release, choose, explicit)
    kept_names = [e for exps in kept.values() for e in exps]
    reference = element_references(rows, parsed.path)
    ref_ci = _check_genome(genome, reference, parsed.path, release)
    chrom_index = dict(zip(reference["chrom"].astype(str), ref_ci))
    reference["chrom"] = np.asarray(genome.names, dtype=object)[ref_ci]
    windows = element_windows(reference, length)
    too_long = (windows["span"] > length).to_numpy()
    if window == "element" and too_long.any():
        element = windows.index[int(np.argmax(too_long))]
        raise ValueError(f"element {element} spans {int(windows.loc[element, 'span'])} bp, more than input_length {length}")

    snv = _snvs(rows, parsed.path, release)
    ci = snv["chrom"].map(chrom_index).to_numpy(dtype=np.int64)
    pos = snv["pos"].to_numpy(dtype=np.int64)
    if window == "element":
        start = windows.loc[snv["element_name"].to_numpy(), "start"].to_numpy(dtype=np.int64)
    else:
        start = pos - 1 - length // 2
    (rng_split,) = child_rngs(seed, 1)
    split = position_split(ci, pos, pd.factorize(snv["element_name"])[0], rule.fractions, rng_split)
    regions = _regions(snv, genome, ci, start, split, length)
    labels = snv["coefficient"].to_numpy(dtype=np.float32)[:, None]

    spec = MPRAPROM.with_(input_length=length, split=rule, pair_anchor="region" if window == "element" else "variant")
    fractions = rule.fraction_map()
    sources = [source_record(parsed.path, "kircher2019_table")]
    if promoters_path is not None:
        sources.append(source_record(promoters_path, "experiment_list"))
    per_position = snv.groupby(["element", "pos"]).size().value_counts().sort_index()
    card = make_card(
        spec,
        label_names=[_LABEL],
        labels_extra={"meaning": "Coefficient of the table: log2 variant expression effect"},
        genome=genome,
        genome_build=guess_build(genome) or release,
        sources=sources,
        parameters={
            "release": release,
            "promoters": None if promoters_path is None else str(promoters_path),
            "choose": choose,
            "experiments": explicit,
            "window": window,
            "seed": int(seed),
            "input_length": length,
            "split_fractions": fractions,
        },
        build={
            "table_rows": int(len(parsed.variants) + len(parsed.unplaced)),
            "listed_experiments": names,
            "rows_of_listed_experiments_in_release": int(stats["rows"].sum() + stats["unplaced"].sum()),
            "snvs_kept": int(len(regions)),
            "positions": int(regions.groupby(["chrom", "pos"], observed=True).ngroups),
            "elements": len(kept),
            "snvs_per_position": {str(k): int(v) for k, v in per_position.items()},
            "skipped_in_kept_experiments": _skipped(stats, kept_names),
            "snvs_of_experiments_not_kept": {e: int(stats.loc[e, "snvs"]) for e in names if e not in kept_names},
            "windows_padded_with_n": int(((start < 0) | (start + length > genome.lengths[ci])).sum()),
        },
        split_rule={
            **rule.to_dict(),
            "seed": int(seed),
            "group": "genomic position (chrom, pos): every SNV of a position, in every kept experiment, in one split",
            "stratified_by": "element",
        },
        leakage=_leakage(regions, genome, ci, spec.sample(), leakage),
        columns=_COLUMNS,
        release=release,
        window_rule=_window_rule(window, length),
        experiment_choice={"rule": choose if not explicit else f"{choose}, with {', '.join(explicit)} named", "kept": kept},
        elements=_card_elements(windows, kept, stats, regions, window),
        experiments={e: {"element": element_of(e), "kept": e in kept_names, **{k: int(v) for k, v in stats.loc[e].items()}} for e in names},
    )
    return write_store(out, card, regions, labels, overwrite=overwrite)


# ----- the prepare command -----------------------------------------------------------------------


@dataclass
class MPRAPromOptions:
    table: Path = option(help="Kircher 2019 table (elements.tsv.gz).", argument=True)
    genome: Path = option(help="Genome cache folder (GRCh37 or GRCh38).", short="-g")
    out: Path = option(help="Store folder to create.", short="-o")
    release: Release = option("auto", help="Coordinates of the table to use; auto: the genome's, from chr1's length.")
    promoters: Optional[Path] = option(None, help="List of promoter experiments, one a line (default: the source's promoters.tsv).")
    choose: Choose = option("most-barcodes", help="Experiments of an element measured more than once: the one with most barcodes, or all.")
    experiments: Optional[list[str]] = option(None, help="Experiments to use for their elements, comma-separated (others follow --choose).")
    window: Window = option("element", help="1400 bp centred on the element (the paper) or on each variant.")
    seed: int = option(0, help="Random seed of the split.")
    leakage: bool = option(True, help="Count identical alternative windows across splits.")
    overwrite: bool = option(False, help="Replace an existing store.")


def prepare_mpraprom(options: MPRAPromOptions) -> Store:
    """MPRAProm: promoter SNV pairs (1400 bp) with their log2 MPRA effect, split by position."""
    return build_mpraprom(
        options.table, options.genome, options.out, release=options.release, promoters=options.promoters,
        choose=options.choose, experiments=options.experiments, window=options.window, seed=options.seed,
        leakage=options.leakage, overwrite=options.overwrite,
    )


PREPARE = (PrepareCommand("mpraprom", MPRAPromOptions, prepare_mpraprom, MPRAPROM),)
