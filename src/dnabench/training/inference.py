"""Evaluate a run on a split or on outside data, or predict on new sequences: FASTA, BED + genome, or a sequence table.

Both load the run's best model with `from_pretrained`; neither needs Lightning. New sequences
are centred and cut or padded with N to the length the model was trained on, so a CNN (fixed
input length) and a Transformer see what they saw in training; one `InputLengthWarning` counts
the sequences that were changed.

Precision: both compute in float32 by default, on every device, so a row's prediction does not
depend on the batch it is predicted in beyond float32 rounding (TF32 is switched off for the
call on CUDA). `bf16=True` runs the model under bf16 autocast: faster on a GPU, and within about
1e-2 of float32 (docs/training.md gives the numbers).
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from dnabench.alphabet import N
from dnabench.data.splits import normalise_split
from dnabench.data.tables import write_table
from dnabench.data.task import LabelSet, TaskSpec
from dnabench.evaluation.scoring import SplitScorer
from dnabench.io.files import write_json
from dnabench.training.config import load_config
from dnabench.training.data import TrainingData, load_config_data, load_training_data

__all__ = [
    "BF16_TOLERANCE",
    "Evaluation",
    "InputLengthWarning",
    "evaluate_run",
    "fit_length",
    "fit_rows",
    "padding_of",
    "float32_math",
    "predict_codes",
    "predict_file",
    "read_prediction_input",
    "resolve_model_dir",
    "warn_lengths",
]

#: rows of a split predicted and scored at a time by `evaluate_run`
EVALUATE_CHUNK = 16_384
#: largest difference of a bf16-autocast prediction (probability or value of unit scale) from the
#: float32 one that `bf16=True` promises; float32 runs agree across batch sizes to float32 rounding
BF16_TOLERANCE = 1e-2


class InputLengthWarning(UserWarning):
    """Inputs of another length than the run's were centre-cropped or N-padded (the counts are in the message)."""


def resolve_model_dir(path: str | os.PathLike) -> Path:
    """A run folder (its best/ model) or a save_pretrained folder."""
    path = Path(path)
    if (path / "config.json").is_file():
        return path
    if (path / "best" / "config.json").is_file():
        return path / "best"
    raise FileNotFoundError(f"{path}: neither a saved model (config.json) nor a run folder with best/")


def _device(device: str | None) -> torch.device:
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


@contextlib.contextmanager
def float32_math(device: torch.device) -> Iterator[None]:
    """IEEE float32 matmuls, convolutions and RNNs on CUDA for the duration (cuDNN uses TF32 by
    default, whose 10-bit mantissa would make predictions depend on the kernels chosen for a batch
    size). The legacy `allow_tf32` flags are used, which code that reads them (torch.compile's
    kernels among it) can still read; where the caller has set the newer per-backend
    `fp32_precision` flags, the legacy ones cannot be read and those are set instead."""
    if device.type != "cuda":
        yield
        return
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    try:
        saved = matmul.allow_tf32, cudnn.allow_tf32
    except RuntimeError:  # mixed legacy / new flags: only the new API may be used
        backends = [matmul, cudnn.conv, cudnn.rnn]
        precisions = [b.fp32_precision for b in backends]
        try:
            for b in backends:
                b.fp32_precision = "ieee"
            yield
        finally:
            for b, value in zip(backends, precisions):
                b.fp32_precision = value
        return
    try:
        matmul.allow_tf32 = cudnn.allow_tf32 = False
        yield
    finally:
        matmul.allow_tf32, cudnn.allow_tf32 = saved


def predict_codes(
    model, codes: np.ndarray, batch_size: int = 256, device: str | None = None, reverse_complement: bool = False, bf16: bool = False
) -> np.ndarray:
    """Predictions [N, K] float32 for codes [N, L] (an array or memmap), batch by batch on `device`.

    float32 unless `bf16` (bf16 autocast on the model's device, within `BF16_TOLERANCE`)."""
    target = _device(device)
    model = model.to(target).eval()
    context = contextlib.nullcontext() if bf16 else float32_math(target)
    with context:
        return model.predict_codes(codes, reverse_complement, batch_size=batch_size, autocast=bf16, as_numpy=True)


#: how shorter inputs are N-padded: "centre" (both sides), or "right" (after the bases), which is
#: what training on a sequence table does to its shorter rows (`padding_of` picks it for such runs)
PADDINGS = ("centre", "right")
_PADDED = {"centre": "N-padded on both sides", "right": "N-padded on the right, as the run's training table was"}


def padding_of(config: Any) -> str:
    """The padding of a run's shorter inputs: "right" for a run trained on a sequence table (its
    loader pads shorter rows on the right), "centre" for one trained on a store's windows."""
    from dnabench.data.tables import TABLE_SUFFIXES

    data = str(getattr(config, "data", "") or "").lower().removesuffix(".gz")
    return "right" if data.endswith((*TABLE_SUFFIXES, ".pq", ".tab")) else "centre"


def fit_length(codes: np.ndarray, length: int, pad: str = "centre") -> np.ndarray:
    """Centre-crop or N-pad [N, L] codes to [N, length] (`pad`: centre or right, see PADDINGS)."""
    have = codes.shape[1]
    if have == length:
        return codes
    if have > length:
        left = (have - length) // 2
        return codes[:, left : left + length]
    out = np.full((codes.shape[0], length), N, dtype=np.uint8)
    left = 0 if pad == "right" else (length - have) // 2
    out[:, left : left + have] = codes
    return out


def warn_lengths(lengths: np.ndarray, length: int, source: str, pad: str = "centre") -> bool:
    """One InputLengthWarning with the counts of `lengths` that differ from `length`; True if any do."""
    lengths = np.asarray(lengths)
    longer, shorter = int((lengths > length).sum()), int((lengths < length).sum())
    if longer or shorter:
        warnings.warn(
            InputLengthWarning(
                f"{source}: {longer + shorter:,} of {lengths.size:,} sequences are not {length} bp, the run's input length: "
                f"{longer:,} longer (centre-cropped), {shorter:,} shorter ({_PADDED[pad]})"
            ),
            stacklevel=3,
        )
    return bool(longer or shorter)


def fit_rows(codes: np.ndarray, lengths: np.ndarray, length: int, source: str = "input", pad: str = "centre") -> np.ndarray:
    """Row i's first `lengths[i]` codes centre-cropped or N-padded to `length` (each row about its
    own centre, not the padded block's; `pad` see PADDINGS); one InputLengthWarning counts the rows changed."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if not warn_lengths(lengths, length, source, pad) and codes.shape[1] == length:
        return codes
    out = np.full((lengths.size, length), N, dtype=np.uint8)
    for n in np.unique(lengths):
        rows = np.flatnonzero(lengths == n)
        out[rows] = fit_length(codes[rows, : int(n)], length, pad)
    return out


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def _run_parts(run: str | os.PathLike):
    from dnabench.models import DNAModel

    run = Path(run)
    model_dir = resolve_model_dir(run)
    if model_dir == run and not (run / "config.yaml").is_file() and (run.parent / "config.yaml").is_file():
        run = run.parent  # a saved model inside a run folder (RUN/last, RUN/best)
    if not (run / "config.yaml").is_file():
        raise FileNotFoundError(f"{run}: not a run folder (no config.yaml); `dnabench train --out {run}` makes one")
    config = load_config(run / "config.yaml", {})
    model = DNAModel.from_pretrained(model_dir)
    return run, config, model, _read_json(run / "run.json"), _read_json(run / "metrics.json")


def run_task(meta: dict[str, Any], input_length: int, where: Path) -> tuple[TaskSpec, LabelSet]:
    """The spec and labels a run was trained with, from its run.json (no data needed)."""
    task = meta.get("task")
    if not task or not task.get("label_names"):
        raise ValueError(f"{where}/run.json records no task; evaluate this run on a store or a table with a split column")
    card = {
        "task": task.get("name", "run"),
        "labels": {"kind": task.get("kind", "regression"), "names": list(task["label_names"])},
        "loss": task.get("loss"),
        "metrics": task.get("metrics"),
        "output_activation": task.get("output"),
        "sample": {"kind": task.get("input_kind", "window"), "length": input_length},
    }
    return TaskSpec.from_card(card), LabelSet(tuple(task["label_names"]))


@dataclass
class Evaluation:
    """What `evaluate_run` scored and where it wrote it."""

    metrics: dict[str, float]
    data: str
    split: str
    rows: int
    path: Path

    @property
    def title(self) -> str:
        where = "all rows" if self.split == "all" else f"{self.split} split"
        path = Path(self.data).expanduser().resolve()
        return f"{path.parent.name}/{path.name}: {where}, {self.rows:,} rows"


def _same_path(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


def _data_stem(path: Path) -> str:
    """FOLDER-NAME of a data path, its extensions dropped: outside tables are often all called
    test.csv or dev.csv, so the folder keeps their results apart."""
    path = path.expanduser().resolve()
    name = path.name
    for suffix in (".gz", ".csv", ".tsv", ".txt", ".tab", ".parquet", ".pq"):
        name = name.removesuffix(suffix)
    return f"{path.parent.name}-{name or 'data'}"


def _outside_table(
    path: Path, split: str, labels: LabelSet, seed: int, classification: bool = False,
    label_columns: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Codes, true lengths and targets of an outside table's rows: its `split` rows when it has a
    split column, every row when it has none. The run's label columns are looked up by name, or
    `label_columns` name the table's columns that hold them, in the run's order; a
    `classification` run's must hold 0, 1 or nothing (the error names the column and line)."""
    from dnabench.data.tables import load_sequence_table, read_table
    from dnabench.io.files import InputError

    columns = {str(c).lower(): str(c) for c in read_table(path).columns}
    wanted = list(labels.names) if label_columns is None else list(label_columns)
    if len(wanted) != len(labels.names):
        raise InputError(
            path,
            f"--label names {len(wanted)} column(s) ({', '.join(wanted)}) but this run has {len(labels.names)} label(s) "
            f"({', '.join(list(labels.names)[:5])}{', ...' if len(labels.names) > 5 else ''}); give one column per label, in that order",
        )
    missing = [name for name in wanted if name not in columns.values()]
    if missing:
        hint = "; name the table's label columns with --label" if label_columns is None else ""
        raise InputError(
            path,
            f"no label column(s) {', '.join(map(repr, missing))} {'of this run ' if label_columns is None else ''}"
            f"(columns: {', '.join(columns.values())}){hint}; `dnabench predict` takes sequences without labels",
        )
    table = load_sequence_table(path, label_columns=wanted, seed=seed)
    if classification:
        bad = np.argwhere(~(np.isnan(table.labels) | (table.labels == 0) | (table.labels == 1)))
        if bad.size:
            row, col = (int(x) for x in bad[0])
            raise InputError(path, f"label column {table.label_names[col]!r} holds {table.labels[row, col]:g} in row {row + 1}; "
                                   "this run classifies: its labels are 0, 1 or empty", row + 2)
    if "split" not in columns:
        rows, used = np.arange(len(table.codes)), "all"
    else:
        rows, used = table.indices(split), split
        if rows.size == 0:
            raise ValueError(f"{path}: no rows with split {split!r} (counts: {table.counts()})")
    return table.codes[rows], table.lengths[rows], table.labels[rows], used


def evaluate_run(
    run: str | os.PathLike,
    data: str | None = None,
    split: str = "test",
    batch_size: int = 256,
    device: str | None = None,
    reverse_complement: bool = False,
    out: str | os.PathLike | None = None,
    bf16: bool = False,
    genome: str | os.PathLike | None = None,
    label_columns: Sequence[str] | None = None,
) -> Evaluation:
    """Metrics of the run's best model on one split of its data, or on outside data.

    Outside data (`data`, other than the run's own) is a store (its `split` rows) or a table:
    scored whole when it has no split column, else its `split` rows; its labels are the run's
    label columns, by name, or the table's `label_columns` in the run's label order, and F1/MCC
    use the run's validation threshold. The result goes to `out`, or RUN/eval_SPLIT.json for the
    run's own data and RUN/eval_FOLDER-NAME_SPLIT.json otherwise.
    """
    if _is_estimator_run(run):
        return _evaluate_estimator_run(run, data, split, out, genome, reverse_complement, label_columns)
    run, config, model, meta, metrics = _run_parts(run)
    split = normalise_split(split)
    threshold = metrics.get("val", {}).get("threshold")
    own = data is None or _same_path(data, config.data)
    source = str(config.data if own else data)
    _check_label_columns(label_columns, own, source)
    if own or Path(source).is_dir():
        training_data: TrainingData = load_config_data(config, source, genome)
        rows = training_data.split(split)
        if rows.size == 0:
            raise ValueError(f"{source}: split {split!r} has no rows ({training_data.extra.get('counts', {})})")
        run_labels = tuple((meta.get("task") or {}).get("label_names") or training_data.labels.names)
        if training_data.labels.names != run_labels:
            raise ValueError(
                f"{source}: labels {list(training_data.labels.names)[:5]} are not this run's {list(run_labels)[:5]} "
                f"({len(training_data.labels)} vs {len(run_labels)} labels)"
            )
        scorer = SplitScorer(training_data.spec, training_data.labels)
        length = int(meta.get("input_length") or training_data.input_length)
        if training_data.input_length and training_data.input_length != length:
            warn_lengths(np.full(rows.size, training_data.input_length), length, source)
        for start in range(0, rows.size, EVALUATE_CHUNK):  # bounded memory: Track7878's test split is 14 GB dense
            codes, targets = training_data.source.get_batch(rows[start : start + EVALUATE_CHUNK])
            if not training_data.extra.get("features"):  # a features folder's rows are representations, not bases
                codes = fit_length(codes, length)
            scorer.update(targets, predict_codes(model, codes, batch_size, device, reverse_complement, bf16))
        used, count = split, int(rows.size)
    else:
        length = int(meta.get("input_length") or 0)
        if not length:
            raise ValueError(f"{run}/run.json records no input_length")
        spec, labels = run_task(meta, length, run)
        codes, lengths, targets, used = _outside_table(Path(source), split, labels, config.seed, spec.is_classification, label_columns)
        codes = fit_rows(codes, lengths, length, source, padding_of(config))
        scorer = SplitScorer(spec, labels)
        for start in range(0, len(codes), EVALUATE_CHUNK):
            stop = start + EVALUATE_CHUNK
            scorer.update(targets[start:stop], predict_codes(model, codes[start:stop], batch_size, device, reverse_complement, bf16))
        count = int(len(codes))
    result = scorer.compute(threshold=threshold if used != "val" or not own else None)
    if out is None:
        out = run / (f"eval_{used}.json" if own else f"eval_{_data_stem(Path(source))}_{used}.json")
    mapped = {"label_columns": list(label_columns)} if label_columns is not None else {}
    out = _write_evaluation(out, {"data": source, "split": used, "rows": count, **mapped, "precision": "bf16" if bf16 else "float32", **result})
    return Evaluation(result, source, used, count, out)


def _check_label_columns(label_columns: Sequence[str] | None, own: bool, source: str) -> None:
    """`label_columns` name an outside table's columns; a store's labels are its own, named in its card."""
    if label_columns is not None and (own or Path(source).is_dir()):
        what = "the run's own data" if own else "a folder (a store or features: its labels are named in it)"
        raise ValueError(f"--label names the label columns of an outside table; {source} is {what}")


def _write_evaluation(out: str | os.PathLike, record: dict[str, Any]) -> Path:
    """The metrics as JSON at `out` (written beside it, then renamed); a folder is refused."""
    out = Path(out)
    if out.is_dir():
        raise ValueError(f"{out}: is a folder; --out names the JSON file of the metrics, e.g. {out / 'eval.json'}")
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_json(out, record)


def _read_run_input(config: Any, input_path: str | os.PathLike, genome: str | os.PathLike | None, length: int) -> tuple[pd.DataFrame, np.ndarray]:
    """`read_prediction_input` as the run trained: its padding, and for a BED input without --genome
    the run's own genome (as for a VCF)."""
    name = Path(input_path).name.lower().removesuffix(".gz")
    if genome is None and name.endswith((".bed", ".narrowpeak")):
        from dnabench.training.variant_effect import run_genome

        genome = run_genome(config)
    return read_prediction_input(input_path, genome, length, padding_of(config))


def read_prediction_input(
    path: str | os.PathLike, genome: str | os.PathLike | None, length: int, pad: str = "centre",
) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows describing each input (name / coordinates) and their codes [N, length]."""
    from dnabench.io.files import InputError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".fa", ".fasta", ".fna", ".fas")):
        from dnabench.io.fasta import Header, read_fasta_blocks

        names, parts = [], []
        for item in read_fasta_blocks(path):
            if isinstance(item, Header):
                names.append(item.name)
                parts.append([])
            else:
                parts[-1].append(item.codes)
        seqs = [np.concatenate(p) if p else np.zeros(0, np.uint8) for p in parts]
        lengths = np.array([s.size for s in seqs], dtype=np.int64)
        block = np.full((len(seqs), int(lengths.max(initial=0))), N, dtype=np.uint8)
        for i, s in enumerate(seqs):
            block[i, : s.size] = s
        return pd.DataFrame({"name": names, "length": lengths}), fit_rows(block, lengths, length, str(path), pad)
    if name.endswith((".bed", ".narrowpeak")):
        if genome is None:
            raise ValueError(f"{path}: a BED input needs --genome CACHE to read sequence from (this run names no genome)")
        from dnabench.io.genome import open_genome
        from dnabench.io.intervals import read_bed

        regions = read_bed(path)
        g = open_genome(genome)
        spans = regions["end"].to_numpy() - regions["start"].to_numpy()
        other = int((spans != length).sum())
        if other:
            warnings.warn(
                InputLengthWarning(f"{path}: {other:,} of {len(regions):,} regions are not {length} bp; each is read as the {length} bp centred on it"),
                stacklevel=2,
            )
        centre = (regions["start"].to_numpy() + regions["end"].to_numpy()) // 2
        strands = regions["strand"].to_numpy() if "strand" in regions else None
        codes = g.fetch_batch(regions["chrom"].to_numpy(), centre - length // 2, length=length, strands=strands)
        return regions, codes
    from dnabench.data.tables import encode_sequences, read_table

    frame = read_table(path)
    columns = {c.lower(): c for c in frame.columns}
    if "sequence" not in columns:
        raise InputError(path, "expected FASTA, BED (with --genome) or a table with a 'sequence' column")
    codes, lengths = encode_sequences(frame[columns["sequence"]], str(path))
    return frame.drop(columns=[columns["sequence"]]), fit_rows(codes, lengths, length, str(path), pad)


def predict_file(
    run: str | os.PathLike,
    input_path: str | os.PathLike,
    out: str | os.PathLike,
    genome: str | os.PathLike | None = None,
    batch_size: int = 256,
    device: str | None = None,
    reverse_complement: bool = False,
    threshold: float | None = None,
    bf16: bool = False,
) -> pd.DataFrame:
    """Predict every sequence of `input_path` with the run's best model; write `out` (.parquet/.csv/.tsv).

    Each label gets `pred_LABEL`; probability outputs also get `call_LABEL` (1 where the
    prediction is >= the threshold): `threshold`, or the run's validation threshold (a run with
    one binary label has one), else no call column.
    """
    dispatched = _predict_elsewhere(run, input_path, out, genome, batch_size, device, reverse_complement, threshold, bf16)
    if dispatched is not None:
        return dispatched
    run, config, model, meta, metrics = _run_parts(run)
    length = int(meta.get("input_length") or load_config_data(config).input_length)
    probability = model.head.output == "probability"
    if threshold is not None and not probability:
        raise ValueError(f"--threshold {threshold}: this run predicts values, not probabilities; there is nothing to call")
    if threshold is None and probability:
        threshold = metrics.get("val", {}).get("threshold")
    frame, codes = _read_run_input(config, input_path, genome, length)
    preds = predict_codes(model, codes, batch_size, device, reverse_complement, bf16)
    labels = meta.get("task", {}).get("label_names") or [str(i) for i in range(preds.shape[1])]
    frame = frame.reset_index(drop=True).copy()
    for j, label in enumerate(labels):
        frame[f"pred_{label}"] = preds[:, j]
        if threshold is not None:
            frame[f"call_{label}"] = (preds[:, j] >= threshold).astype(np.int8)
    frame.attrs["threshold"] = threshold
    write_table(frame, out)
    return frame


# ----- estimator runs and VCF inputs (`training.estimator`, `training.variant_effect`) --------------


def _is_estimator_run(run: str | os.PathLike) -> bool:
    from dnabench.training.estimator import is_estimator_run

    return is_estimator_run(run)


def _predict_elsewhere(run, input_path, out, genome, batch_size, device, reverse_complement, threshold, bf16) -> pd.DataFrame | None:
    """A VCF (variant effects) or an estimator run's input, each with its own predict; None for
    what `predict_file` itself reads."""
    from dnabench.training.variant_effect import is_vcf

    if is_vcf(input_path):
        if threshold is not None:
            raise ValueError("--threshold: variant scores are ref / alt / diff values; there is nothing to call")
        return _score_vcf(run, input_path, out, genome, batch_size, device, reverse_complement, bf16).frame
    if _is_estimator_run(run):
        return _predict_estimator_file(run, input_path, out, genome, reverse_complement, threshold)
    return None


def _score_vcf(run, vcf, out, genome, batch_size, device, reverse_complement, bf16):
    """Variant effects of a run's best window model (neural or kmer_lr) on each variant of `vcf`."""
    from dnabench.training.variant_effect import genome_for_run, score_vcf

    if _is_estimator_run(run):
        from dnabench.training.estimator import open_estimator_run, predict_estimator_codes

        run, config, estimator, meta, _ = open_estimator_run(run)
        if estimator.input != "codes":
            raise ValueError(f"{run}: a {estimator.name} run reads backbone features; score variants with a window model")
        labels = estimator.label_names

        def predict(codes: np.ndarray) -> np.ndarray:
            return predict_estimator_codes(estimator, codes, reverse_complement)
    else:
        run, config, model, meta, _ = _run_parts(run)
        labels = list((meta.get("task") or {}).get("label_names") or [str(i) for i in range(model.head.fc2.out_features)])

        def predict(codes: np.ndarray) -> np.ndarray:
            return predict_codes(model, codes, batch_size, device, reverse_complement, bf16)

    kind = (meta.get("task") or {}).get("input_kind", "window")
    if kind != "window":
        raise ValueError(f"{run}: a model trained on {kind} inputs; variant scoring needs a window model (one sequence a row)")
    length = int(meta.get("input_length") or 0)
    if not length:
        raise ValueError(f"{run}/run.json records no input_length")
    return score_vcf(predict, vcf, out, genome_for_run(config, genome), length, labels)


def _evaluate_estimator_run(
    run: str | os.PathLike,
    data: str | None = None,
    split: str = "test",
    out: str | os.PathLike | None = None,
    genome: str | os.PathLike | None = None,
    reverse_complement: bool = False,
    label_columns: Sequence[str] | None = None,
) -> Evaluation:
    """`evaluate_run` for an estimator run: metrics of best/ on a split of its data or on outside data
    (a features folder for trees; a store or a table for kmer_lr), F1/MCC at the run's val threshold."""
    from dnabench.evaluation.scoring import score
    from dnabench.training.estimator import check_strand_option, open_estimator_run, predict_estimator_codes, split_arrays

    run, config, model, meta, metrics = open_estimator_run(run)
    check_strand_option(model, reverse_complement)
    split = normalise_split(split)
    threshold = metrics.get("val", {}).get("threshold")
    own = data is None or _same_path(data, config.data)
    source = str(config.data if own else data)
    _check_label_columns(label_columns, own, source)
    length = int(meta.get("input_length") or 0)
    if own or Path(source).is_dir():
        training_data = load_config_data(config, source, genome)
        rows = training_data.split(split)
        if rows.size == 0:
            raise ValueError(f"{source}: split {split!r} has no rows ({training_data.extra.get('counts', {})})")
        if list(training_data.labels.names) != model.label_names:
            raise ValueError(
                f"{source}: labels {list(training_data.labels.names)[:5]} are not this run's {model.label_names[:5]} "
                f"({len(training_data.labels)} vs {len(model.label_names)} labels)"
            )
        spec, labels = training_data.spec, training_data.labels
        x, targets = split_arrays(training_data, rows)
        if model.input == "codes" and length:
            x = fit_length(x, length)
        used, count = split, int(rows.size)
    else:
        if model.input == "features":
            raise ValueError(f"{source}: a {model.name} run reads a features folder (`dnabench features`), not a table")
        if not length:
            raise ValueError(f"{run}/run.json records no input_length")
        spec, labels = run_task(meta, length, run)
        x, lengths, targets, used = _outside_table(Path(source), split, labels, config.seed, spec.is_classification, label_columns)
        x = fit_rows(x, lengths, length, source, padding_of(config))
        count = int(len(x))
    preds = predict_estimator_codes(model, x, reverse_complement)
    result = score(spec, labels, targets, preds, threshold=threshold if used != "val" or not own else None)
    if out is None:
        out = run / (f"eval_{used}.json" if own else f"eval_{_data_stem(Path(source))}_{used}.json")
    mapped = {"label_columns": list(label_columns)} if label_columns is not None else {}
    out = _write_evaluation(out, {"data": source, "split": used, "rows": count, **mapped, "model": model.name, **result})
    return Evaluation(result, source, used, count, out)


def _predict_estimator_file(
    run: str | os.PathLike,
    input_path: str | os.PathLike,
    out: str | os.PathLike,
    genome: str | os.PathLike | None = None,
    reverse_complement: bool = False,
    threshold: float | None = None,
) -> pd.DataFrame:
    """`predict_file` for an estimator run: a features folder for trees (one row a feature row,
    with its `index`), FASTA / BED + genome / a sequence table for kmer_lr; pred_LABEL and, for
    probabilities, call_LABEL at `threshold` or the run's validation threshold."""
    from dnabench.training.estimator import check_strand_option, open_estimator_run, predict_estimator_codes, row_names, split_arrays

    run, config, model, meta, metrics = open_estimator_run(run)
    check_strand_option(model, reverse_complement)
    if threshold is not None and model.regression:
        raise ValueError(f"--threshold {threshold}: this run predicts values, not probabilities; there is nothing to call")
    if threshold is None and not model.regression:
        threshold = metrics.get("val", {}).get("threshold")
    input_path = Path(input_path)
    if model.input == "features":
        if not input_path.is_dir():
            raise ValueError(f"{input_path}: a {model.name} run predicts from a features folder (`dnabench features RUN --data STORE --out DIR`)")
        features = load_training_data(input_path, seed=config.seed)
        rows = np.sort(np.concatenate([np.asarray(v, dtype=np.int64) for v in features.splits.values()]))
        x, _ = split_arrays(features, rows)
        frame = row_names(features, rows)
        preds = predict_estimator_codes(model, x, False)
    else:
        length = int(meta.get("input_length") or 0)
        if not length:
            raise ValueError(f"{run}/run.json records no input_length")
        frame, codes = _read_run_input(config, input_path, genome, length)
        frame = frame.reset_index(drop=True).copy()
        preds = predict_estimator_codes(model, codes, reverse_complement)
    for j, label in enumerate(model.label_names):
        frame[f"pred_{label}"] = preds[:, j]
        if threshold is not None:
            frame[f"call_{label}"] = (preds[:, j] >= threshold).astype(np.int8)
    frame.attrs["threshold"] = threshold
    write_table(frame, out)
    return frame

