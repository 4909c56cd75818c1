"""GeneExp (paper 4.1.4, appendix A.4): 218 tissue expression levels of a gene from 40 kb at its TSS.

Inputs: ExPecto's gene annotation ``geneanno.csv`` and expression matrix ``geneanno.exp.csv``
(genes x 218 tissues, rows in the annotation's order; layouts in `dnabench.io.expecto`), and an
hg19 genome cache. One store row a gene, a segmented sample: the 40 kb window is cut into 200
segments of 200 bp, each read with 400 bp of context on either side (1000 bp, the input of the
Track7878 backbone), so a row feeds a model [200, 1000] codes and the upper model sees one
backbone representation per segment.

TSS. ExPecto's annotation has two positions a gene, `TSS` (the annotated gene TSS) and
`CAGE_representative_TSS` (the representative TSS ExPecto chose with CAGE data, as the column
name says). ExPecto builds its features and its gene
association on the representative TSS: its README points to "the representative TSS" of
geneanno.csv, and its `geneanno.pc.sorted.bed` (the TSSs it assigns variants to) is exactly
`CAGE_representative_TSS - 1` for all 18,625 genes it lists. So `tss="CAGE_representative_TSS"`
is the default; `tss="TSS"` takes the other column (the two agree for 27 % of genes, median
distance 36 bp). Both are 1-based in the file; `tss0 = value - 1` is the 0-based base.

Window, read along the transcript: in reading order the TSS base sits at index ``window // 2``
(20,000), i.e. the first base of segment 100. A '+' gene covers genome
``[tss0 - window // 2, tss0 - window // 2 + window)``; a '-' gene the mirror image
``[tss0 + window // 2 + 1 - window, tss0 + window // 2 + 1)``, read reverse-complemented (the
segmented sample's strand "-"), so upstream is always segments 0..99. Windows (with their
context) that reach past a chromosome end are padded with N and counted (`windows_padded_with_n`).

Labels. ExPecto trains on ``np.log(geneexp.iloc[:, targetIndex] + pseudocount)`` with
``pseudocount = 0.0001`` (FunctionLab/ExPecto train.py @ 1b89458, lines 34-35 for the default
and 63-65, 77-80 for the transform): the natural log of RPKM plus 1e-4. `transform="log"`
(default) applies exactly that, with `pseudocount` as an option; `transform="none"` stores the
matrix as given (already transformed). Missing values (empty/NA/NaN fields) stay NaN and make the
store masked (`masked_huber`: left out of loss and metrics), as ExPecto drops non-finite targets
per tissue; a value at or below ``-pseudocount`` cannot be logged and is an error naming its line
(usually a matrix that is already on a log scale: pass transform="none").

Genes: `genes="all"` keeps every row (24,339); ExPecto's train.py filters are offered by name:
``no_rrna`` (its default "all": type != rRNA), ``protein_coding`` ("pc"), ``lincrna``
("lincRNA"). `gene_bed` keeps only the genes whose Ensembl id is listed in a TSS BED of
ExPecto's layout (``geneanno.pc.sorted.bed``); the card counts how many of its TSSs equal the
chosen column. Genes on chromosomes the genome lacks are an error naming the file and line;
`skip_missing=True` drops and counts them. A TSS beyond its chromosome's end is always an error
(the wrong genome build).

Split by chromosome as ExPecto's train.py and the paper: validation chrX, chrY; test chr8;
training the rest. The matrix must have one row a gene of the annotation (an error names both
files and both counts otherwise); when its first column holds gene ids they must match the
annotation's row by row.

Leakage: windows of different splits lie on different chromosomes, so none overlap; identical
inputs are found by hashing each row's whole read (window plus context, on its strand), which
fixes every segment. The card also counts genes sharing one TSS and strand (identical inputs
with their own labels) and genes whose windows overlap another gene's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

import numpy as np
import pandas as pd

from dnabench.data.leakage import leakage_report
from dnabench.data.splits import chromosome_split
from dnabench.data.store import SPLITS, Store, write_store
from dnabench.data.task import Activation, InputKind, LabelKind, LossKind, Metric, SplitKind, SplitRule, TaskSpec
from dnabench.io.expecto import TSS_COLUMNS, ExpressionMatrix, read_expression, read_geneanno, read_tss_bed
from dnabench.io.files import InputError
from dnabench.tasks.base import PrepareCommand, option
from dnabench.tasks.card import make_card
from dnabench.tasks.common import as_genome, known_chromosomes, source_record

__all__ = [
    "GENEEXP",
    "GeneExpOptions",
    "GENE_SETS",
    "TRANSFORMS",
    "VALID_CHROMS",
    "TEST_CHROMS",
    "build_geneexp",
    "prepare_geneexp",
    "gene_set_mask",
    "transform_expression",
    "describe_transform",
    "tss_window_starts",
]

VALID_CHROMS = ("chrX", "chrY")
TEST_CHROMS = ("chr8",)
WINDOW = 40_000
SEGMENT_LENGTH = 200
CONTEXT = 400
PSEUDOCOUNT = 1e-4
DEFAULT_TSS = "CAGE_representative_TSS"

#: gene sets by the annotation's `type` column: name -> (ExPecto's filterStr, rule)
GENE_SETS: dict[str, tuple[str | None, str]] = {
    "all": (None, "every gene of the annotation"),
    "no_rrna": ("all", "type != rRNA"),
    "protein_coding": ("pc", "type == protein_coding"),
    "lincrna": ("lincRNA", "type == lincRNA"),
}
TRANSFORMS = ("log", "none")

GENEEXP = TaskSpec(
    name="geneexp",
    title="Gene expression in 218 tissues from 40 kb around the TSS (GeneExp)",
    paper_section="4.1.4",
    input_kind=InputKind.SEGMENTED,
    input_length=SEGMENT_LENGTH + 2 * CONTEXT,
    segments=WINDOW // SEGMENT_LENGTH,
    segment_length=SEGMENT_LENGTH,
    context=CONTEXT,
    label_kind=LabelKind.REGRESSION,
    n_labels=218,
    metrics=(Metric.SPEARMAN,),
    loss=LossKind.HUBER,
    output=Activation.IDENTITY,
    split=SplitRule(SplitKind.CHROMOSOME, val=VALID_CHROMS, test=TEST_CHROMS, unit="chromosome"),
    metric_scope="Spearman over all test (gene, tissue) pairs pooled",
    notes=(
        "ExPecto genes (geneanno.csv, hg19) and expression (geneanno.exp.csv); 40 kb centred on the "
        "CAGE representative TSS by default (the TSS base at reading index 20,000, minus-strand genes "
        "read along the transcript), 200 segments of 200 bp each read with 400 bp context either side; "
        "labels log(RPKM + 1e-4) as ExPecto's train.py; Huber loss and identity output (appendix A.4); "
        "split by chromosome, val chrX/chrY, test chr8."
    ),
)


# ----- pieces --------------------------------------------------------------------------------------


def gene_set_mask(types: pd.Series | np.ndarray, genes: str) -> np.ndarray:
    """bool [n]: the genes of `types` (the annotation's type column) in the named gene set."""
    if genes not in GENE_SETS:
        raise ValueError(f"genes must be one of {', '.join(GENE_SETS)}; got {genes!r}")
    types = pd.Series(types).astype(str)
    if genes == "all":
        return np.ones(len(types), dtype=bool)
    if genes == "no_rrna":
        return np.array(types != "rRNA", dtype=bool)
    return np.array(types == {"protein_coding": "protein_coding", "lincrna": "lincRNA"}[genes], dtype=bool)


def transform_expression(matrix: ExpressionMatrix, rows: np.ndarray, transform: str, pseudocount: float) -> np.ndarray:
    """float32 labels of `rows` of the matrix: ExPecto's log(x + pseudocount), or the values as given.

    NaN (missing) stays NaN. A value with x + pseudocount <= 0 has no log: an InputError names
    its line and column.
    """
    if transform not in TRANSFORMS:
        raise ValueError(f"transform must be one of {', '.join(TRANSFORMS)}; got {transform!r}")
    values = matrix.values[rows]
    if transform == "none":
        return values.astype(np.float32)
    if not pseudocount > 0:
        raise ValueError(f"pseudocount must be > 0 for transform 'log', got {pseudocount}")
    shifted = values + pseudocount
    bad = shifted <= 0  # NaN compares False: missing values stay missing
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise InputError(
            matrix.path,
            f"value {values[r, c]} of column {matrix.names[c]!r} is <= -pseudocount ({-pseudocount}), so "
            "log(x + pseudocount) is undefined; is the matrix already log-transformed? (then use transform 'none')",
            int(matrix.lines[rows[r]]),
        )
    return np.log(shifted).astype(np.float32)


def describe_transform(transform: str, pseudocount: float) -> str:
    return f"log(x + {pseudocount:g}) (natural log, ExPecto train.py)" if transform == "log" else "none (values as given)"


def tss_window_starts(tss0: np.ndarray, minus: np.ndarray, window: int) -> np.ndarray:
    """Genome start of each gene's window, so that reading index window // 2 is the TSS base.

    '+': tss0 - window // 2. '-' (read reverse-complemented): tss0 + window // 2 + 1 - window.
    """
    tss0 = np.asarray(tss0, dtype=np.int64)
    half = int(window) // 2
    return np.where(np.asarray(minus, dtype=bool), tss0 + half + 1 - int(window), tss0 - half)


def _check_sizes(window: int, segment_length: int, context: int) -> int:
    """Segments a row, after checking the geometry options."""
    if segment_length < 1 or context < 0 or window < 1:
        raise ValueError(f"need window >= 1, segment_length >= 1 and context >= 0; got {window}, {segment_length}, {context}")
    if window % segment_length:
        raise ValueError(f"window {window} is not a multiple of segment_length {segment_length}")
    return window // segment_length


def _check_alignment(annotation_path: Path, genes: pd.DataFrame, matrix: ExpressionMatrix) -> None:
    """One matrix row a gene, in the same order (ExPecto links the two files by position)."""
    if len(matrix) != len(genes):
        raise InputError(
            matrix.path,
            f"{len(matrix)} expression rows, but the annotation {annotation_path} has {len(genes)} genes; "
            "the matrix must have one row a gene, in the annotation's order",
        )
    if matrix.index is None:
        return
    labels = pd.Series(matrix.index)
    if pd.to_numeric(labels, errors="coerce").notna().any():
        return  # row numbers (ExPecto's index column), not gene ids
    differ = labels.to_numpy() != genes["id"].astype(str).to_numpy()
    if differ.any():
        r = int(np.argmax(differ))
        raise InputError(
            matrix.path,
            f"row label {labels.iloc[r]!r} is not gene {genes['id'].iloc[r]!r} of line {int(genes['line'].iloc[r])} of "
            f"{annotation_path}: the matrix must list the annotation's genes in its order",
            int(matrix.lines[r]),
        )


def _bed_filter(path: Path, genes: pd.DataFrame, tss_column: str) -> tuple[np.ndarray, dict]:
    """Genes listed in the TSS BED, and what the BED says about the chosen TSS column."""
    bed = read_tss_bed(path)
    listed = np.array(genes["id"].astype(str).isin(set(bed["id"].astype(str))), dtype=bool)
    merged = genes.loc[listed, ["id", "seqnames", "strand", tss_column]].merge(
        bed.drop_duplicates("id")[["id", "chrom", "start", "strand"]], on="id", suffixes=("", "_bed")
    )
    agree = (
        (merged["seqnames"].astype(str) == merged["chrom"].astype(str))
        & (merged["strand"] == merged["strand_bed"])
        & (merged[tss_column] - 1 == merged["start"])
    )
    stats = {
        "path": str(path),
        "tsss": len(bed),
        "genes_listed": int(listed.sum()),
        "ids_not_in_annotation": int((~bed["id"].astype(str).isin(set(genes["id"].astype(str)))).sum()),
        f"tss_equal_to_{tss_column}": int(agree.sum()),
    }
    return listed, stats


def _resolve_chromosomes(genome: Any, chroms: pd.Series) -> np.ndarray:
    """Genome index of each name (aliases: chr1 = 1), -1 where the genome lacks it; one lookup a name."""
    codes, uniq = pd.factorize(chroms.astype(str))
    lookup = np.array([genome.resolve(str(u)) if str(u) in genome else -1 for u in uniq], dtype=np.int64)
    return lookup[codes] if lookup.size else np.zeros(0, dtype=np.int64)


def _rows_overlapping_another(ci: np.ndarray, start: np.ndarray, end: np.ndarray) -> int:
    """Rows whose window shares at least 1 bp with another row's window (same chromosome)."""
    base = ci.astype(np.int64) << np.int64(41)
    ks, ke = base + start + (1 << 39), base + end + (1 << 39)
    hits = np.searchsorted(np.sort(ks), ke, side="left") - np.searchsorted(np.sort(ke), ks, side="right")
    return int((hits > 1).sum())


def _counts(values: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in pd.Series(values).value_counts(sort=False).items()}


# ----- build -------------------------------------------------------------------------------------


def build_geneexp(
    annotation: str | os.PathLike,
    expression: str | os.PathLike,
    genome: Any,
    out: str | os.PathLike,
    *,
    tss: str = DEFAULT_TSS,
    transform: str = "log",
    pseudocount: float = PSEUDOCOUNT,
    genes: str = "all",
    gene_bed: str | os.PathLike | None = None,
    window: int = WINDOW,
    segment_length: int = SEGMENT_LENGTH,
    context: int = CONTEXT,
    valid_chroms: tuple[str, ...] = VALID_CHROMS,
    test_chroms: tuple[str, ...] = TEST_CHROMS,
    skip_missing: bool = False,
    genome_build: str | None = None,
    leakage: bool = True,
    overwrite: bool = False,
) -> Store:
    """Build the GeneExp store (see the module docstring) and return it opened."""
    if tss not in TSS_COLUMNS:
        raise ValueError(f"tss must be one of {', '.join(TSS_COLUMNS)}; got {tss!r}")
    if transform not in TRANSFORMS:
        raise ValueError(f"transform must be one of {', '.join(TRANSFORMS)}; got {transform!r}")
    if genes not in GENE_SETS:
        raise ValueError(f"genes must be one of {', '.join(GENE_SETS)}; got {genes!r}")
    if transform == "log" and not pseudocount > 0:
        raise ValueError(f"pseudocount must be > 0 for transform 'log', got {pseudocount}")
    segments = _check_sizes(int(window), int(segment_length), int(context))
    g = as_genome(genome)
    annotation = Path(annotation)
    table = read_geneanno(annotation)
    matrix = read_expression(expression)
    _check_alignment(annotation, table, matrix)
    n_annotation = len(table)

    keep = gene_set_mask(table["type"], genes)
    build: dict[str, Any] = {
        "genes_in_annotation": n_annotation,
        "gene_set": genes,
        "gene_set_rule": GENE_SETS[genes][1],
        "dropped_by_gene_set": int((~keep).sum()),
    }
    sources = [source_record(annotation, "annotation"), source_record(matrix.path, "expression")]
    if gene_bed is not None:
        listed, bed_stats = _bed_filter(Path(gene_bed), table, tss)
        build["dropped_not_in_gene_bed"] = int((keep & ~listed).sum())
        build["gene_bed"] = bed_stats
        keep &= listed
        sources.append(source_record(gene_bed, "gene_bed"))

    ci = _resolve_chromosomes(g, table["seqnames"])
    absent = keep & (ci < 0)
    if absent.any() and not skip_missing:
        r = int(np.argmax(absent))
        raise InputError(
            annotation,
            f"gene {table['id'].iloc[r]!r} is on chromosome {table['seqnames'].iloc[r]!r}, which genome {g.path} "
            f"does not have (known: {known_chromosomes(g)}); give --skip-missing (skip_missing=True) to drop such genes",
            int(table["line"].iloc[r]),
        )
    build["dropped_missing_chromosome"] = _counts(table["seqnames"][absent])
    keep &= ci >= 0
    rows = np.flatnonzero(keep)
    if not rows.size:
        raise InputError(annotation, "no gene is left after the gene filters and the genome's chromosomes")

    genes_kept = table.iloc[rows].reset_index(drop=True)
    ci = ci[rows]
    tss0 = genes_kept[tss].to_numpy(dtype=np.int64) - 1
    chrom_len = g.lengths[ci].astype(np.int64)
    beyond = tss0 >= chrom_len
    if beyond.any():
        r = int(np.argmax(beyond))
        raise InputError(
            annotation,
            f"{tss} of gene {genes_kept['id'].iloc[r]!r} at {genes_kept['seqnames'].iloc[r]}:{tss0[r] + 1} (1-based) is "
            f"beyond the chromosome end ({int(chrom_len[r])} bp): is the genome hg19, the build of ExPecto's tables?",
            int(genes_kept["line"].iloc[r]),
        )
    minus = (genes_kept["strand"] == "-").to_numpy()
    start = tss_window_starts(tss0, minus, window)
    end = start + window
    read_start, read_end = start - context, end + context
    padded_bases = np.maximum(0, -read_start) + np.maximum(0, read_end - chrom_len)
    padded = padded_bases > 0
    labels = transform_expression(matrix, rows, transform, pseudocount)
    split, split_rule = chromosome_split(ci, g, valid_chroms, test_chroms)

    regions = pd.DataFrame(
        {
            "chrom": pd.Categorical.from_codes(ci, categories=g.names),
            "start": start,
            "end": end,
            "strand": np.where(minus, "-", "+"),
            "split": split,
            "gene_id": genes_kept["id"].astype(str).to_numpy(dtype=object),
            "symbol": genes_kept["symbol"].astype(str).to_numpy(dtype=object),
            "gene_type": genes_kept["type"].astype(str).to_numpy(dtype=object),
            "tss": tss0,
            "source_line": genes_kept["line"].to_numpy(dtype=np.int64),
        }
    )
    span = window + 2 * context

    def whole_read(batch: np.ndarray) -> np.ndarray:
        return g.fetch_batch(ci[batch], read_start[batch], length=span, strands=minus[batch])

    missing = np.isnan(labels)
    spec = GENEEXP.with_(
        input_length=segment_length + 2 * context, segments=segments, segment_length=segment_length, context=context,
        n_labels=labels.shape[1], masked=bool(missing.any()),
    )
    split_arr = np.asarray(split, dtype=str)
    names = np.asarray(g.names, dtype=object)
    site = pd.DataFrame({"ci": ci, "tss": tss0, "minus": minus})
    build.update(
        {
            "dropped_missing_chromosome_total": int(absent.sum()),
            "genes_in_store": len(regions),
            "windows_padded_with_n": int(padded.sum()),
            "padded_bases": int(padded_bases.sum()),
            "padded_genes": regions.loc[padded, "gene_id"].head(20).tolist(),
            "missing_values": int(missing.sum()),
        }
    )
    card = make_card(
        spec,
        label_names=matrix.names,
        labels_extra={
            "transform": describe_transform(transform, pseudocount),
            "source_units": "RPKM (ExPecto geneanno.exp.csv)" if transform == "log" else "as given",
            "observed_per_label": (~missing).sum(axis=0).tolist(),
        },
        genome=g,
        genome_build=genome_build,
        sources=sources,
        parameters={
            "tss": tss,
            "tss_base": "1-based in the annotation; the store's tss column is 0-based (value - 1)",
            "transform": transform,
            "pseudocount": pseudocount if transform == "log" else None,
            "genes": genes,
            "gene_bed": None if gene_bed is None else str(gene_bed),
            "window": int(window),
            "segments": segments,
            "segment_length": int(segment_length),
            "context": int(context),
            "tss_index": int(window) // 2,
            "skip_missing": skip_missing,
            "annotation_build": "hg19 (ExPecto)",
        },
        build=build,
        split_rule=split_rule,
        leakage=leakage_report(regions, whole_read if leakage else None, chunk=max(1, (1 << 26) // span)),
        columns={
            "gene_id": "Ensembl gene id (annotation column id)",
            "symbol": "gene symbol",
            "gene_type": "annotation column type (protein_coding, lincRNA, rRNA)",
            "tss": f"0-based position of the TSS base ({tss} - 1), at reading index window // 2",
            "source_line": "line of the gene in the annotation file",
        },
        genes={
            "per_split": {s: int((split_arr == s).sum()) for s in SPLITS},
            "per_chromosome": {str(names[k]): int(v) for k, v in zip(*np.unique(ci, return_counts=True))},
            "per_type": _counts(regions["gene_type"]),
            "per_strand": _counts(regions["strand"]),
            "duplicate_ids": int(regions["gene_id"].duplicated().sum()),
            "rows_sharing_tss_and_strand": int(site.duplicated(keep=False).sum()),
            "rows_whose_window_overlaps_another": _rows_overlapping_another(ci, start, end),
        },
    )
    return write_store(out, card, regions, labels, overwrite=overwrite)


# ----- the prepare command --------------------------------------------------------------------------

TssColumn = Literal["CAGE_representative_TSS", "TSS"]
Transform = Literal["log", "none"]
GeneSet = Literal["all", "no_rrna", "protein_coding", "lincrna"]


@dataclass
class GeneExpOptions:
    annotation: Path = option(help="ExPecto geneanno.csv (id,symbol,seqnames,strand,TSS,CAGE_representative_TSS,type; hg19).", argument=True)
    expression: Path = option(help="Expression matrix in geneanno.exp.csv layout (rows in the annotation's order).", short="-e")
    genome: Path = option(help="Genome cache folder (hg19).", short="-g")
    out: Path = option(help="Store folder to create.", short="-o")
    tss: TssColumn = option(DEFAULT_TSS, help="TSS column: CAGE_representative_TSS (ExPecto's) or TSS.")
    transform: Transform = option("log", help="Labels: log = ExPecto's log(x + pseudocount); none = as given.")
    pseudocount: float = option(PSEUDOCOUNT, help="Pseudocount of the log transform (ExPecto: 0.0001).")
    genes: GeneSet = option("all", help="Genes by type: all, no_rrna (ExPecto's 'all'), protein_coding, lincrna.")
    gene_bed: Optional[Path] = option(None, help="Keep only genes listed in this TSS BED (ExPecto geneanno.pc.sorted.bed).")
    window: int = option(WINDOW, help="Bases around the TSS (a multiple of segment-length).")
    segment_length: int = option(SEGMENT_LENGTH, help="Bases per segment.")
    context: int = option(CONTEXT, help="Context bases read on each side of a segment.")
    skip_missing: bool = option(False, help="Drop genes on chromosomes the genome lacks (counted in the card).")
    build: Optional[str] = option(None, help="Genome build name for the card (hg19).")
    leakage: bool = option(True, help="Also hash every row's read to count identical inputs across splits.")
    overwrite: bool = option(False, help="Replace an existing store.")


def prepare_geneexp(options: GeneExpOptions) -> Store:
    """GeneExp: 40 kb around each ExPecto TSS as 200 x 200 bp segments (+400 bp context), 218 log expression labels."""
    return build_geneexp(
        options.annotation, options.expression, options.genome, options.out, tss=options.tss,
        transform=options.transform, pseudocount=options.pseudocount, genes=options.genes, gene_bed=options.gene_bed,
        window=options.window, segment_length=options.segment_length, context=options.context,
        skip_missing=options.skip_missing, genome_build=options.build, leakage=options.leakage,
        overwrite=options.overwrite,
    )


PREPARE = (PrepareCommand("geneexp", GeneExpOptions, prepare_geneexp, GENEEXP),)
