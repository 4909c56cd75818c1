"""Track7878 (paper 4.1.3): genome bins labelled by thousands of peak files, DeepSEA's method.

Input: a metadata table (TSV) listing peak files (narrowPeak or BED) with their assay group
(DNase / TF / histone), cell type and accession, and a genome cache. The genome is cut into
200 bp bins; a label is 1 where the file's peaks together cover at least half the bin (see
`dnabench.tasks.track_labels`); bins with no positive label are dropped; the model input is
the bin plus 400 bp each side (1000 bp). Split 96/1/3 at random by bin (seeded per
chromosome) or by held-out chromosomes. `strands="both"` stores every bin twice, + and -
strand, in the same split (DeepSEA's convention; the paper's 28,000,694 samples exceed hg19's
15.5 million bins, so they count both strands); the default keeps one row a bin and leaves the
reverse complement to the loader's augmentation, at half the size.

Scale (about 14 million bins x 7878 labels at full size): two streaming passes.
1. Each peak file is read once; per chromosome its labelled bins become ranges (lo, hi, label)
   appended to one scratch file per chromosome (10 bytes a range).
2. Chromosome by chromosome, the ranges are sorted and the bins expanded block by block into a
   dense boolean block [bins, labels] of about 64 MB, whose `nonzero` gives the CSR rows of the
   block in order; rows go straight to the store's labels files (`StoreWriter.csr_labels`).
Memory: one peak file, one chromosome's ranges, one block, and the regions of the kept bins
(about 40 bytes a row).

Metadata columns (tab-separated, header line, `#` comments allowed):
    accession   unique label name (ENCODE file accession, say)
    file        path of the peak file, relative to the metadata file's folder or absolute
    group       DNase | TF | histone (case-insensitive; "DNase-seq", "TF ChIP-seq",
                "Histone ChIP-seq" are accepted too)
    cell_type   free text
    target      optional: TF or histone mark
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd

from dnabench.data.leakage import leakage_report
from dnabench.data.store import SPLITS, Store, StoreWriter, open_store
from dnabench.io.files import InputError, read_text_lines
from dnabench.io.intervals import read_peaks
from dnabench.data.task import Activation, InputKind, LabelKind, LossKind, Metric, SplitKind, SplitRule, TaskSpec
from dnabench.tasks.base import PrepareCommand, option
from dnabench.tasks.card import make_card
from dnabench.tasks.common import as_genome, known_chromosomes, source_record
from dnabench.tasks.track_labels import covered_bin_ranges, expand_ranges

__all__ = ["Track", "read_track_metadata", "build_track7878", "GROUPS"]

GROUPS = ("dnase", "tf", "histone")
_GROUP_ALIASES = {
    "dnase": "dnase", "dnase-seq": "dnase", "dnaseseq": "dnase", "dhs": "dnase", "atac": "dnase", "atac-seq": "dnase",
    "tf": "tf", "tf chip-seq": "tf", "tf_chip-seq": "tf", "chip-seq tf": "tf", "tfbs": "tf",
    "histone": "histone", "histone chip-seq": "histone", "histone_chip-seq": "histone", "histone mark": "histone",
}
_REQUIRED = ("accession", "file", "group", "cell_type")
_RANGE = np.dtype([("lo", "<i4"), ("hi", "<i4"), ("label", "<i2")])
_BLOCK_CELLS = 1 << 26  # booleans in one dense block (64 MB)


@dataclass(frozen=True)
class Track:
    """One label: a peak file and what it measures."""

    accession: str
    path: Path
    group: str
    cell_type: str
    target: str = ""

    @property
    def name(self) -> str:
        return self.accession


def read_track_metadata(path: str | os.PathLike, check_files: bool = True) -> list[Track]:
    """Read and check the metadata table; errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such metadata file")
    rows = [(i, line) for i, line in enumerate(read_text_lines(path), 1) if line.strip() and not line.startswith("#")]
    if not rows:
        raise InputError(path, "empty metadata table (need a header and one row a peak file)")
    header_line, header = rows[0][0], [h.strip().lower() for h in rows[0][1].split("\t")]
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        raise InputError(path, f"header lacks column(s) {', '.join(missing)} (tab-separated; need {', '.join(_REQUIRED)})", line=header_line)
    col = {name: header.index(name) for name in header}
    tracks: list[Track] = []
    seen: dict[str, int] = {}
    for line_no, line in rows[1:]:
        fields = next(csv.reader([line], delimiter="\t"))
        if len(fields) < len(header):
            raise InputError(path, f"{len(fields)} fields, the header has {len(header)}", line=line_no)
        get = lambda name: fields[col[name]].strip() if name in col else ""  # noqa: E731
        accession = get("accession")
        if not accession:
            raise InputError(path, "empty accession", line=line_no)
        if accession in seen:
            raise InputError(path, f"duplicate accession {accession!r} (also on line {seen[accession]})", line=line_no)
        seen[accession] = line_no
        group = _GROUP_ALIASES.get(get("group").lower())
        if group is None:
            raise InputError(path, f"unknown assay group {get('group')!r}; use DNase, TF or histone", line=line_no)
        file = Path(get("file"))
        if not file.is_absolute():
            file = path.parent / file
        if check_files and not file.is_file():
            raise InputError(path, f"peak file {file} of {accession} does not exist", line=line_no)
        if check_files and file.stat().st_size == 0:  # fail before the long first pass, not during it
            raise InputError(path, f"peak file {file} of {accession} is empty (a label needs peaks)", line=line_no)
        tracks.append(Track(accession, file, group, get("cell_type"), get("target")))
    if len(tracks) > np.iinfo(np.int16).max:
        raise InputError(path, f"{len(tracks)} tracks; at most {np.iinfo(np.int16).max} are supported")
    return tracks


def _split_codes(
    n: int, chrom_name: str, chrom_index: int, seed: int, fractions: dict[str, float] | None, holdout: dict[str, set[str]] | None
) -> np.ndarray:
    """Split code (index into SPLITS) of each of n bins of one chromosome."""
    if holdout is not None:
        for split, names in holdout.items():
            if chrom_name in names:
                return np.full(n, SPLITS.index(split), dtype=np.int8)
        return np.zeros(n, dtype=np.int8)
    assert fractions is not None
    cum = np.cumsum([fractions.get(s, 0.0) for s in SPLITS])[:-1]
    rng = np.random.default_rng([seed, chrom_index])
    return np.searchsorted(cum, rng.random(n), side="right").astype(np.int8)


class _RangeSpool:
    """Per-chromosome scratch files of (lo, hi, label) bin ranges."""

    def __init__(self, folder: Path, n_chroms: int) -> None:
        self.folder = folder
        self.counts = np.zeros(n_chroms, dtype=np.int64)

    def path(self, chrom: int) -> Path:
        return self.folder / f"ranges_{chrom}.bin"

    def add(self, chrom: int, lo: np.ndarray, hi: np.ndarray, label: int) -> None:
        rec = np.empty(lo.size, dtype=_RANGE)
        rec["lo"], rec["hi"], rec["label"] = lo, hi, label
        with open(self.path(chrom), "ab") as f:
            rec.tofile(f)
        self.counts[chrom] += lo.size

    def load(self, chrom: int) -> np.ndarray:
        if not self.counts[chrom]:
            return np.zeros(0, dtype=_RANGE)
        rec = np.fromfile(self.path(chrom), dtype=_RANGE)
        self.path(chrom).unlink()
        return rec


def _spool_track(track: Track, label: int, genome: Any, spool: _RangeSpool, bin_size: int, min_cover: int) -> dict:
    """Read one peak file and add its labelled bin ranges to the spool; returns its counts."""
    peaks = read_peaks(track.path)
    stats = {"peaks": len(peaks), "peaks_off_genome": 0, "peaks_clipped": 0}
    if not len(peaks):
        return stats
    chrom = peaks["chrom"].astype("category")
    names = list(chrom.cat.categories)
    codes = chrom.cat.codes.to_numpy()
    starts = peaks["start"].to_numpy(np.int64)
    ends = peaks["end"].to_numpy(np.int64)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
    for k, name in enumerate(names):
        rows = order[bounds[k] : bounds[k + 1]]
        if name not in genome:
            stats["peaks_off_genome"] += rows.size
            continue
        ci = genome.resolve(name)
        length = int(genome.lengths[ci])
        stats["peaks_clipped"] += int((ends[rows] > length).sum())
        lo, hi = covered_bin_ranges(starts[rows], ends[rows], bin_size, min_cover, length)
        if lo.size:
            spool.add(ci, lo, hi, label)
    if stats["peaks_off_genome"] == stats["peaks"]:
        shown = ", ".join(str(n) for n in names[:10]) + (f", ... ({len(names)} in all)" if len(names) > 10 else "")
        raise InputError(
            track.path,
            f"no peak on the genome: all {stats['peaks']} peaks of {track.accession} lie on {shown}, and genome "
            f"{genome.path} has {known_chromosomes(genome)}; the label would have no positive (another assembly or naming?)",
        )
    return stats


def _chromosome_rows(rec: np.ndarray, n_bins: int, n_labels: int) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """Kept bins of one chromosome and their CSR pieces, block by block."""
    rec = rec[np.argsort(rec["lo"], kind="stable")]
    lo = rec["lo"].astype(np.int64)
    hi = rec["hi"].astype(np.int64)
    label = rec["label"].astype(np.int64)
    longest = int((hi - lo).max()) + 1 if rec.size else 0
    block = max(1, _BLOCK_CELLS // max(n_labels, 1))
    kept: list[np.ndarray] = []
    pieces: list[tuple[np.ndarray, np.ndarray]] = []
    dense = np.zeros((min(block, max(n_bins, 1)), n_labels), dtype=bool)
    for b0 in range(0, n_bins, block):
        b1 = min(b0 + block, n_bins)
        first = np.searchsorted(lo, b0 - longest, side="left")
        last = np.searchsorted(lo, b1, side="left")
        sel = np.arange(first, last)
        sel = sel[hi[sel] >= b0]
        if not sel.size:
            continue
        a = np.maximum(lo[sel], b0) - b0
        z = np.minimum(hi[sel], b1 - 1) - b0
        rows, which = expand_ranges(a, z)
        view = dense[: b1 - b0]
        view[rows, label[sel][which]] = True
        r, c = np.nonzero(view)
        view[r, c] = False  # reset only what was set
        bins, per_row = np.unique(r, return_counts=True)
        kept.append(bins + b0)
        pieces.append((per_row, c.astype(np.int16)))
    return (np.concatenate(kept) if kept else np.zeros(0, dtype=np.int64)), pieces


def _rows_twice(counts: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR rows each written twice in a row (the + and - strand copy of a bin)."""
    first = np.cumsum(counts) - counts
    lo, hi = np.repeat(first, 2), np.repeat(first + counts - 1, 2)
    positions, _ = expand_ranges(lo, hi)
    return np.repeat(counts, 2), indices[positions]


def build_track7878(
    metadata: str | os.PathLike,
    genome: Any,
    out: str | os.PathLike,
    bin_size: int = 200,
    flank: int = 400,
    min_overlap: float = 0.5,
    fractions: dict[str, float] | None = None,
    holdout: dict[str, Sequence[str]] | None = None,
    seed: int = 0,
    strands: str = "plus",
    leakage_sequences: bool = True,
    overwrite: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> Store:
    """Build the Track7878 store (see the module docstring); returns the opened store.

    `min_overlap` is the fraction of a bin the peaks must cover (0.5: at least 100 of 200 bp).
    `holdout` {"val": [...], "test": [...]} splits by chromosome instead of `fractions`.
    `progress(stage, done, total)` is called after each file and each chromosome.
    """
    genome = as_genome(genome)
    if bin_size < 1 or flank < 0:
        raise ValueError(f"need bin_size >= 1 and flank >= 0, got {bin_size} and {flank}")
    if strands not in ("plus", "both"):
        raise ValueError(f"strands is 'plus' or 'both', got {strands!r}")
    copies = 2 if strands == "both" else 1
    if not 0 < min_overlap <= 1:
        raise ValueError(f"min_overlap is a fraction of the bin in (0, 1], got {min_overlap}")
    min_cover = max(1, int(np.ceil(min_overlap * bin_size - 1e-9)))
    spec = TRACK7878
    hold: dict[str, set[str]] | None = None
    if holdout is not None:
        hold = {}
        split_rule: dict = {"kind": "chromosome", "train": "all other chromosomes"}
        for split, names in holdout.items():
            if split not in ("val", "test"):
                raise ValueError(f"holdout splits are val and test, got {split!r}")
            hold[split] = {genome.names[genome.resolve(n)] for n in names if n in genome}
            split_rule[split] = sorted(hold[split])
            absent = [n for n in names if n not in genome]
            if absent:
                split_rule[f"{split}_absent_from_genome"] = absent
        fractions = None
    else:
        fractions = dict(fractions or spec.split.fraction_map())
        total = sum(fractions.values())
        if any(v < 0 for v in fractions.values()) or not np.isclose(total, 1.0) or set(fractions) - set(SPLITS):
            raise ValueError(f"split fractions must be train/val/test >= 0 summing to 1, got {fractions}")
        split_rule = {"kind": "random", "unit": "bin", "seeded": "per chromosome", "fractions": fractions, "seed": seed}
    tracks = read_track_metadata(metadata)
    n_labels = len(tracks)
    length = bin_size + 2 * flank

    with StoreWriter(out, overwrite=overwrite) as writer:
        spool = _RangeSpool(writer.scratch, len(genome))
        per_track = []
        for j, track in enumerate(tracks):
            per_track.append(_spool_track(track, j, genome, spool, bin_size, min_cover))
            if progress:
                progress("peak files", j + 1, n_labels)
        csr = writer.csr_labels(n_labels)
        chrom_parts, start_parts, strand_parts, split_parts = [], [], [], []
        positives = np.zeros(n_labels, dtype=np.int64)
        bins_total = 0
        for ci, chrom in enumerate(genome.chromosomes):
            n_bins = -(-int(chrom.length) // bin_size)
            bins_total += n_bins
            bins, pieces = _chromosome_rows(spool.load(ci), n_bins, n_labels)
            for counts, indices in pieces:
                if copies == 2:
                    counts, indices = _rows_twice(counts, indices)
                csr.append(counts, indices)
                positives += np.bincount(indices, minlength=n_labels)
            if bins.size:
                chrom_parts.append(np.full(bins.size * copies, ci, dtype=np.int32))
                start_parts.append(np.repeat(bins * bin_size - flank, copies))
                strand_parts.append(np.tile(np.arange(copies, dtype=np.int8), bins.size))
                split_parts.append(np.repeat(_split_codes(bins.size, chrom.name, ci, seed, fractions, hold), copies))
            if progress:
                progress("chromosomes", ci + 1, len(genome))
        cat = lambda parts, dtype: np.concatenate(parts) if parts else np.zeros(0, dtype)  # noqa: E731
        starts = cat(start_parts, np.int64)
        regions = pd.DataFrame(
            {
                "chrom": pd.Categorical.from_codes(cat(chrom_parts, np.int32), categories=genome.names),
                "start": starts,
                "end": starts + length,
                "strand": pd.Categorical.from_codes(cat(strand_parts, np.int8), categories=["+", "-", "."]),
                "split": pd.Categorical.from_codes(cat(split_parts, np.int8), categories=list(SPLITS)),
            }
        )
        leak_seq = None
        if leakage_sequences:
            rows_chrom = regions["chrom"].cat.codes.to_numpy()
            minus = regions["strand"].cat.codes.to_numpy() == 1
            leak_seq = lambda rows: genome.fetch_batch(rows_chrom[rows], starts[rows], length=length, strands=minus[rows])  # noqa: E731
        card = make_card(
            spec.with_(input_length=length, n_labels=n_labels),
            label_names=[t.name for t in tracks],
            label_groups=[t.group for t in tracks],
            labels_extra={
                "cell_types": [t.cell_type for t in tracks],
                "targets": [t.target for t in tracks],
                "positives": positives,
            },
            genome=genome,
            sources=[source_record(metadata, "metadata")] + [{**source_record(t.path, "peaks"), "label": t.name} for t in tracks],
            parameters={
                "bin_size": bin_size,
                "flank": flank,
                "min_overlap": min_overlap,
                "strands": strands,
                "seed": seed,
            },
            build={
                "bin_size": bin_size,
                "flank": flank,
                "min_overlap": min_overlap,
                "min_cover_bp": min_cover,
                "strands": strands,
                "rule": f"label 1 where the union of a file's peaks covers >= {min_cover} bp of the {bin_size} bp bin",
                "bins_in_genome": bins_total,
                "bins_kept": int(starts.size) // copies,
                "bins_dropped_no_label": bins_total - int(starts.size) // copies,
                "peaks": int(sum(s["peaks"] for s in per_track)),
                "peaks_off_genome": int(sum(s["peaks_off_genome"] for s in per_track)),
                "peaks_clipped_at_chromosome_end": int(sum(s["peaks_clipped"] for s in per_track)),
            },
            split_rule=split_rule,
            leakage=leakage_report(regions, leak_seq, reverse_complements=copies == 1),
        )
        writer.finish(card, regions)
    return open_store(out)


TRACK7878 = TaskSpec(
    name="track7878",
    title="Chromatin features, 7878 DNase/TF/histone labels (Track7878)",
    paper_section="4.1.3",
    input_kind=InputKind.WINDOW,
    input_length=1000,
    label_kind=LabelKind.MULTILABEL,
    n_labels=7878,
    metrics=(Metric.AUROC, Metric.AUPRC),
    loss=LossKind.FOCAL,
    output=Activation.SIGMOID,
    split=SplitRule(SplitKind.RANDOM, (0.96, 0.01, 0.03), unit="bin"),
    label_groups=("dnase", "tf", "histone"),
    metric_scope="per label, then macro average overall and per group",
    notes=(
        "200 bp bins with at least one positive label (a file's peaks cover >= half the bin), plus "
        "400 bp each side; one label per peak file of the metadata table; CSR labels."
    ),
)


def _fractions(text: tuple[float, float, float]) -> dict[str, float]:
    return dict(zip(SPLITS, text))


@dataclass
class Track7878Options:
    peaks: Path = option(help="Metadata TSV: accession, file, group (DNase/TF/histone), cell_type[, target].", short="-p")
    genome: Path = option(help="Genome cache folder.", short="-g")
    out: Path = option(help="Store folder to create.", short="-o")
    bin_size: int = option(200, help="Bin size in bp.")
    flank: int = option(400, help="Bases added on each side of the bin (input = bin + 2 x flank).")
    min_overlap: float = option(0.5, help="Fraction of the bin the peaks must cover for a 1.")
    split: tuple[float, float, float] = option((0.96, 0.01, 0.03), help="Random train,val,test fractions by bin.")
    holdout_val: Optional[list[str]] = option(None, help="Chromosomes for validation (comma list): split by chromosome.")
    holdout_test: Optional[list[str]] = option(None, help="Chromosomes for test (comma list): split by chromosome.")
    seed: int = option(0, help="Random seed of the split.")
    both_strands: bool = option(False, help="Store every bin on both strands (the paper's sample count).")
    leakage: bool = option(True, help="Also count identical sequences across splits (reads every window).")
    overwrite: bool = option(False, help="Replace an existing store.")
    quiet: bool = option(False, help="No progress bar.")


def prepare_track7878(options: Track7878Options) -> Store:
    """Track7878: 200 bp genome bins x peak files (DeepSEA's labelling), 1000 bp inputs, CSR labels."""
    from dnabench.progress import stage_progress

    holdout = None
    if options.holdout_val or options.holdout_test:
        holdout = {"val": list(options.holdout_val or []), "test": list(options.holdout_test or [])}
    with stage_progress(not options.quiet) as progress:
        return build_track7878(
            options.peaks, options.genome, options.out, bin_size=options.bin_size, flank=options.flank,
            min_overlap=options.min_overlap, fractions=_fractions(options.split), holdout=holdout, seed=options.seed,
            leakage_sequences=options.leakage, strands="both" if options.both_strands else "plus",
            overwrite=options.overwrite, progress=progress,
        )


PREPARE = (PrepareCommand("track7878", Track7878Options, prepare_track7878, TRACK7878),)
