"""DeepSEA's 919-label chromatin data (paper 6.2, Table 2), imported from its .mat files.

DeepSEA (Zhou & Troyanskaya 2015) ships its training data as three MATLAB files, which the
paper's tokenization comparison (Table 2) trains and tests on unchanged:

    train.mat   v7.3 (HDF5)  trainxdata (4,400,000 x 4 x 1000 one-hot), traindata (4,400,000 x 919)
    valid.mat   v5           validxdata (8,000 x 4 x 1000),             validdata (8,000 x 919)
    test.mat    v5           testxdata (455,024 x 4 x 1000),            testdata (455,024 x 919)

(shapes in MATLAB order; h5py shows train.mat's reversed: (1000, 4, N) and (919, N)). The
one-hot channels are A, G, C, T in that order, and an all-zero column is N. The split is the
files' own: train.mat -> train, valid.mat -> val, test.mat -> test.

The sequences come with the data, not as coordinates, so the store keeps them as codes.npy
(uint8, A0 C1 G2 T3 N4) and the regions table carries placeholders (chrom ".", start = end =
0) plus `source` and `source_row`. Labels are CSR (a few % positive). Reading is chunked
(`dnabench.io.matlab`): memory is one slab of `chunk_rows` rows, about 20 kB a row (some 150 MB
at the default), whatever the file size; the leakage report hashes 65,536 rows at a time.
The label order is DeepSEA's: 125 DNase, 690 TF, 104 histone features, named after DeepSEA's
predictor names (packaged as data/deepsea919_features.tsv).

The card's `composition` checks the base order on the data itself: CpG is depleted in human DNA
and GpC is not, so `cpg_below_gpc` false would mean C and G were read swapped.
"""

from __future__ import annotations

import contextlib
import os
from importlib import resources
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dnabench.alphabet import BASES, N
from dnabench.data.leakage import leakage_report
from dnabench.data.store import SPLITS, Store, StoreWriter, open_store
from dnabench.io.matlab import SequenceMat
from dnabench.data.task import Activation, InputKind, LabelKind, LossKind, Metric, SplitKind, SplitRule, TaskSpec
from dnabench.tasks.base import PrepareCommand, option
from dnabench.tasks.card import make_card
from dnabench.tasks.common import source_record

__all__ = ["DEEPSEA", "DeepSEAOptions", "build_deepsea", "deepsea_features", "deepsea_label_names", "find_mat_files", "FILES", "BASE_ORDER"]

#: (split, file, one-hot variable, label variable)
FILES = (
    ("train", "train.mat", "trainxdata", "traindata"),
    ("val", "valid.mat", "validxdata", "validdata"),
    ("test", "test.mat", "testxdata", "testdata"),
)
BASE_ORDER = "AGCT"  # DeepSEA's one-hot channel order
INPUT_LENGTH = 1000
N_LABELS = 919
GROUP_SIZES = {"dnase": 125, "tf": 690, "histone": 104}
DEFAULT_CHUNK_ROWS = 8192
_COMPOSITION_STRIDE = 16  # every 16th row of a slab goes into the dinucleotide counts

DEEPSEA = TaskSpec(
    name="deepsea",
    title="DeepSEA chromatin features, 919 DNase/TF/histone labels (tokenization study, Table 2)",
    paper_section="6.2",
    input_kind=InputKind.WINDOW,
    input_length=INPUT_LENGTH,
    label_kind=LabelKind.MULTILABEL,
    n_labels=N_LABELS,
    metrics=(Metric.AUROC, Metric.AUPRC),
    loss=LossKind.FOCAL,
    output=Activation.SIGMOID,
    split=SplitRule(SplitKind.GIVEN),
    label_groups=("dnase", "tf", "histone"),
    metric_scope="per label, then macro average overall and per group; Table 2 reports the TF group (690 labels)",
    notes=(
        "DeepSEA's own training data (Zhou & Troyanskaya 2015), imported unchanged from its .mat files: "
        "1000 bp hg19 sequences, labels ordered 125 DNase, 690 TF, 104 histone. Focal loss as for "
        "Track7878 (appendix A.3), the chromatin task this data set stands in for. "
        "DeepSEA held out chromosomes 8 and 9 for its test set."
    ),
)


def deepsea_features() -> pd.DataFrame:
    """The 919 features in label order: index, cell_type, assay, treatment, group."""
    ref = resources.files("dnabench.tasks") / "data" / "deepsea919_features.tsv"
    with ref.open("r") as f:
        table = pd.read_csv(f, sep="\t", dtype={"cell_type": str, "assay": str, "treatment": str, "group": str}, keep_default_na=False)
    return table


def deepsea_label_names(features: pd.DataFrame | None = None) -> list[str]:
    """cell_type|assay|treatment, as DeepSEA names them; repeats (75 experiments) get #2, #3..."""
    features = deepsea_features() if features is None else features
    seen: dict[str, int] = {}
    names = []
    for row in features.itertuples(index=False):
        name = f"{row.cell_type}|{row.assay}|{row.treatment}"
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return names


def find_mat_files(mat_dir: str | os.PathLike) -> dict[str, Path]:
    """split -> path of train.mat / valid.mat / test.mat in `mat_dir` (or its deepsea_train/ folder)."""
    mat_dir = Path(mat_dir)
    if not mat_dir.is_dir():
        raise FileNotFoundError(f"{mat_dir}: no such folder (expected one holding train.mat, valid.mat, test.mat)")
    base = mat_dir
    if not (mat_dir / "train.mat").exists() and (mat_dir / "deepsea_train" / "train.mat").exists():
        base = mat_dir / "deepsea_train"  # the folder the tarball unpacks to
    paths = {split: base / name for split, name, _, _ in FILES}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{missing[0]}: no such file" + (f" (also missing: {', '.join(missing[1:])})" if len(missing) > 1 else ""))
    return paths


def _composition(bases: np.ndarray, pairs: np.ndarray) -> dict:
    """Base fractions and CpG / GpC observed/expected, a check of the base order on the data:
    CpG is depleted in human DNA and GpC is not, so CpG above GpC means C and G were swapped."""
    frac = bases[:4] / max(int(bases[:4].sum()), 1)
    p = pairs.reshape(5, 5)[:4, :4]
    p = p / max(int(p.sum()), 1)
    C, G = BASES.index("C"), BASES.index("G")
    expected = frac[C] * frac[G]
    cpg = float(p[C, G] / expected) if expected > 0 else None
    gpc = float(p[G, C] / expected) if expected > 0 else None
    return {
        "base_fractions": {b: float(frac[i]) for i, b in enumerate("ACGT")},
        "n_fraction": float(bases[N] / max(bases.sum(), 1)),
        "cpg_observed_expected": cpg,
        "gpc_observed_expected": gpc,
        "cpg_below_gpc": None if cpg is None or gpc is None else bool(cpg < gpc),
    }


def build_deepsea(
    mat_dir: str | os.PathLike,
    out: str | os.PathLike,
    overwrite: bool = False,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    leakage: bool = True,
    progress: bool = False,
) -> Store:
    """Import DeepSEA's train.mat / valid.mat / test.mat into a store and return it opened."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    paths = find_mat_files(mat_dir)
    spec = DEEPSEA
    features = deepsea_features()
    names = deepsea_label_names(features)
    if len(names) != N_LABELS:
        raise RuntimeError(f"packaged feature table has {len(names)} rows, expected {N_LABELS}")

    with contextlib.ExitStack() as stack:
        # open all three first: a bad shape fails before anything is written
        mats = [
            (split, stack.enter_context(SequenceMat(paths[split], x, y, length=INPUT_LENGTH, n_labels=N_LABELS, base_order=BASE_ORDER)))
            for split, _, x, y in FILES
        ]
        total = sum(m.n_rows for _, m in mats)
        bar: Any = None
        if progress:
            from rich.progress import Progress

            bar = stack.enter_context(Progress())
            task_id = bar.add_task("importing DeepSEA .mat files", total=total)

        with StoreWriter(out, overwrite=overwrite) as writer:
            codes = writer.codes(total, INPUT_LENGTH)
            csr = writer.csr_labels(N_LABELS)
            bases = np.zeros(5, dtype=np.int64)
            pairs = np.zeros(25, dtype=np.int64)
            positives = np.zeros(N_LABELS, dtype=np.int64)
            inputs, split_col, source_col, row_col = [], [], [], []
            at = 0
            for split, mat in mats:
                mat.mat.scratch = writer.scratch  # compressed v5 variables inflate inside the store's temp folder
                file_pos, bases_before = 0, int(bases[N])
                for code_block, label_block in mat.chunks(chunk_rows):
                    n = code_block.shape[0]
                    codes[at : at + n] = code_block
                    rows, cols = np.nonzero(label_block)
                    csr.append(np.bincount(rows, minlength=n), cols)
                    positives += np.bincount(cols, minlength=N_LABELS)
                    file_pos += cols.size
                    bases += np.bincount(code_block.reshape(-1), minlength=5)[:5]
                    sample = code_block[::_COMPOSITION_STRIDE].astype(np.int64)
                    pairs += np.bincount((sample[:, :-1] * 5 + sample[:, 1:]).reshape(-1), minlength=25)
                    at += n
                    if bar is not None:
                        bar.advance(task_id, n)
                mat.close()  # removes inflated scratch files before the next file
                split_col.append(np.full(mat.n_rows, SPLITS.index(split), dtype=np.int8))  # category codes: no
                source_col.append(np.full(mat.n_rows, len(source_col), dtype=np.int8))  # per-row strings
                row_col.append(np.arange(mat.n_rows, dtype=np.int64))
                inputs.append({**mat.layout, "split": split, "positives": file_pos, "n_positions": int(bases[N]) - bases_before})

            split_arr = pd.Categorical.from_codes(np.concatenate(split_col), categories=list(SPLITS))
            regions = pd.DataFrame(
                {
                    "chrom": ".",
                    "start": np.zeros(total, dtype=np.int64),
                    "end": np.zeros(total, dtype=np.int64),
                    "strand": ".",
                    "split": split_arr,
                    "source": pd.Categorical.from_codes(np.concatenate(source_col), categories=[m.path.name for _, m in mats]),
                    "source_row": np.concatenate(row_col),
                }
            )
            groups = features["group"].tolist()
            card = make_card(
                spec,
                label_names=names,
                label_groups=groups,
                labels_extra={
                    "group_sizes": {g: groups.count(g) for g in GROUP_SIZES},
                    "positives_per_label": positives.tolist(),
                    "features": "dnabench/tasks/data/deepsea919_features.tsv (DeepSEA predictor names: cell type|assay|treatment)",
                },
                sources=[source_record(paths[split], f"{split}: {x} (one-hot), {y} (labels)") for split, _, x, y in FILES],
                parameters={
                    "base_order": BASE_ORDER,
                    "all_zero_column": "N",
                    "input_length": INPUT_LENGTH,
                    "n_labels": N_LABELS,
                    "chunk_rows": int(chunk_rows),
                },
                split_rule={
                    "kind": "given",
                    "train": "train.mat (4,400,000 rows)",
                    "val": "valid.mat (8,000 rows)",
                    "test": "test.mat (455,024 rows)",
                },
                leakage=leakage_report(regions[["split"]], lambda rows: np.asarray(codes[rows])) if leakage else None,
                columns={
                    "chrom, start, end, strand": "placeholders ('.', 0, 0, '.'): the sequences are stored in codes.npy",
                    "source": "the .mat file the row comes from",
                    "source_row": "0-based row of that file",
                },
                inputs=inputs,
                composition={**_composition(bases, pairs), "dinucleotides_from": f"every {_COMPOSITION_STRIDE}th row"},
            )
            writer.finish(card, regions)
    return open_store(out)


@dataclass
class DeepSEAOptions:
    mat: Path = option(help="Folder with DeepSEA's train.mat, valid.mat, test.mat (or its deepsea_train/).", short="-m")
    out: Path = option(help="Store folder to create.", short="-o")
    chunk_rows: int = option(DEFAULT_CHUNK_ROWS, help="Rows read at a time (memory: about 20 kB a row).")
    leakage: bool = option(True, help="Count identical sequences across splits (hashes every row).")
    overwrite: bool = option(False, help="Replace an existing store.")
    quiet: bool = option(False, help="No progress bar.")


def prepare_deepsea(options: DeepSEAOptions) -> Store:
    """DeepSEA: import its 919-label .mat files (1000 bp sequences, given train/valid/test split)."""
    return build_deepsea(
        options.mat, options.out, overwrite=options.overwrite, chunk_rows=options.chunk_rows,
        leakage=options.leakage, progress=not options.quiet,
    )


PREPARE = (PrepareCommand("deepsea", DeepSEAOptions, prepare_deepsea, DEEPSEA),)
