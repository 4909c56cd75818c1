"""End-to-end training speed: `dnabench.training.run.train` against the model step alone, in one run.

Goals (one GPU): a `train` run reaches >= 90 % of the model-step rate, on a sequence table and
on a coordinate store; evaluate, predict and feature extraction run at >= 3x the step rate.

Inputs, built by the script in --workdir:
  table   --table-rows random sequences of --length bases with a 0/1 label, as Parquet
          (80/10/10 random split, the default of a table without a split column)
  store   a Track7878-like coordinate store: --store-rows windows of --length bases on both
          strands of a random genome cache (--mbp), --labels 0/1 labels kept sparse (CSR,
          --positive of them set), split 90/5/5; windows are read from the genome each batch

For each input, in the same process:
  model step   the step `train` runs, with nothing around it: batches already on the device,
               tokenized there, forward, loss, backward, gradient clipping, fused AdamW, bf16
               autocast, compiled as the run is; the rate every other row is compared with
  train        `train(config)` for --warmup + --steps steps (no epoch end inside: the measured
               window is pure training), timed from the step after the warm-up to the last
               one with the device synchronised at both ends; the GPU's busy share is sampled
               from NVML over that window. Then the run's own validation and test passes,
               timed the same way (rows/s), and Lightning's SimpleProfiler splits the steady
               steps into loader wait, copy to the device, step, and the rest (callbacks,
               logging), in ms a step.
  --variants   the model step again with one of the run's choices changed: no gradient
               clipping, the autocast weight cache on, the whole forward compiled
  evaluate / predict / features
               `evaluate_run` (bf16) on the test split, `predict_file` (bf16) on a table of
               the input's sequences, `extract_features` on the store: wall time of the whole
               library call, rows/s, and the ratio to the model-step rate.

Usage:
  python benchmarks/train_e2e.py                           # the full run on a GPU
  python benchmarks/train_e2e.py --inputs store --workers 0,4
  python benchmarks/train_e2e.py --inputs table --variants   # + what clipping, the autocast cache, compile scope cost
  python benchmarks/train_e2e.py --inputs table --profile 20  # + where the model step's host time goes
  python benchmarks/train_e2e.py --smoke                   # tiny CPU run that checks the script
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

STEP_GOAL = 0.90
INFERENCE_GOAL = 3.0
LETTERS = np.frombuffer(b"ACGT", dtype=np.uint8)


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--inputs", default="table,store", help="table, store or both (default both)")
    p.add_argument("--table-rows", type=int, default=300_000)
    p.add_argument("--store-rows", type=int, default=1_000_000)
    p.add_argument("--labels", type=int, default=919, help="labels of the store (default 919, DeepSEA's)")
    p.add_argument("--positive", type=float, default=0.02, help="share of set labels in the store")
    p.add_argument("--mbp", type=float, default=100.0, help="genome size of the store, Mbp")
    p.add_argument("--length", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--warmup", type=int, default=100, help="untimed steps first (compilation, caches)")
    p.add_argument("--steps", type=int, default=600, help="timed steps")
    p.add_argument("--model", default="transformer")
    p.add_argument("--no-compile", action="store_true", help="eager mode (default: compiled, as --compile)")
    p.add_argument("--precision", default="bf16-mixed")
    p.add_argument("--variants", action="store_true", help="also time the model step with one choice of the run changed (VARIANTS)")
    p.add_argument("--inference-batch", type=int, default=None,
                   help="batch size of evaluate, predict and features (default: --batch-size); a forward pass needs "
                        "a third of a step's work, so a larger batch keeps the GPU as busy")
    p.add_argument("--profile", type=int, default=0, metavar="STEPS",
                   help="also run this many model steps under torch.profiler: the host's and the GPU's ms a step and the ops "
                        "that take the host's time (what bounds a step that the GPU does not)")
    p.add_argument("--workers", default="0", help="loader worker counts to run, e.g. 0,4 (default 0)")
    p.add_argument("--workdir", default=None, help="where the inputs and runs go (default: a temporary folder)")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--smoke", action="store_true", help="tiny CPU run that checks the script")
    if "--smoke" in (sys.argv[1:] if argv is None else argv):  # tiny defaults; options given still win
        p.set_defaults(table_rows=600, store_rows=1200, labels=16, mbp=0.5, length=200, batch_size=16, warmup=2, steps=6,
                       no_compile=True, precision="32")
    args = p.parse_args(argv)
    if args.inference_batch is not None and args.inference_batch < 1:
        p.error(f"--inference-batch must be >= 1, got {args.inference_batch}")
    if args.profile < 0:
        p.error(f"--profile must be >= 0, got {args.profile}")
    args.model_options = {"hidden_size": 32, "num_layers": 1, "num_heads": 2} if args.smoke else {}
    args.compile = not args.no_compile
    args.worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]
    args.input_list = [x.strip() for x in args.inputs.split(",") if x.strip()]
    bad = [x for x in args.input_list if x not in ("table", "store")]
    if bad:
        p.error(f"--inputs: unknown {bad}; choose table and/or store")
    return args


# ----- inputs ------------------------------------------------------------------------------------


def random_letters(rng: np.random.Generator, rows: int, length: int) -> np.ndarray:
    return LETTERS[rng.integers(0, 4, (rows, length), dtype=np.uint8)]


def write_table(path: Path, rows: int, length: int, seed: int) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    letters = random_letters(rng, rows, length)
    offsets = np.arange(0, (rows + 1) * length, length, dtype=np.int32)
    sequences = pa.StringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(letters.tobytes()))
    labels = pa.array((rng.random(rows) < 0.5).astype(np.float32))
    pq.write_table(pa.table({"sequence": sequences, "label": labels}), path)
    return path


def write_store(folder: Path, args: argparse.Namespace) -> tuple[Path, Path]:
    """A random genome cache and a Track7878-like store on it: (store folder, genome cache)."""
    import pandas as pd

    from dnabench.data.store import CSRLabels, write_store as write
    from dnabench.io.genome import index_genome

    rng = np.random.default_rng(1)
    chromosomes = 4
    per = int(args.mbp * 1e6) // chromosomes
    with open(folder / "genome.fa", "wb") as fasta:
        for c in range(chromosomes):
            fasta.write(f">chr{c + 1}\n".encode())
            bases = random_letters(rng, per // 100, 100)
            fasta.write(np.concatenate([bases, np.full((bases.shape[0], 1), ord("\n"), np.uint8)], axis=1).tobytes())
    genome = index_genome(folder / "genome.fa", folder / "cache", progress=False)
    n, k, length = args.store_rows, args.labels, args.length
    start = rng.integers(0, per // 100 * 100 - length, n)
    split = np.array(["train", "val", "test"])[np.searchsorted([0.9, 0.95], rng.random(n), side="right")]
    regions = pd.DataFrame({
        "chrom": np.array([f"chr{c + 1}" for c in range(chromosomes)])[rng.integers(0, chromosomes, n)],
        "start": start, "end": start + length, "strand": np.where(rng.random(n) < 0.5, "+", "-"), "split": split,
    })
    counts = rng.binomial(k, args.positive, n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    row_of = np.repeat(np.arange(n), counts)
    columns = rng.integers(0, k, int(indptr[-1]))
    columns = columns[np.lexsort((columns, row_of))].astype(np.int32)  # sorted within each row (a repeat is harmless)
    card = {"task": "track7878", "input_length": length,
            "labels": {"names": [f"label{i}" for i in range(k)], "kind": "multilabel", "groups": {}}}
    write(folder / "store", card, regions, CSRLabels(indptr, columns, k))
    del genome
    return folder / "store", folder / "cache"


def store_sequences_table(store: Path, genome: Path, path: Path, rows: int) -> Path:
    """The first `rows` test windows of the store as a sequence table: what `predict` reads."""
    import pandas as pd

    from dnabench.alphabet import CODE_TO_ASCII
    from dnabench.data.store import open_store
    from dnabench.io.genome import open_genome

    opened = open_store(store)
    test = np.flatnonzero(opened.regions["split"].to_numpy() == "test")[:rows]
    codes = opened.sequences(test, open_genome(genome))
    letters = CODE_TO_ASCII[codes]  # one lookup for every base, then one string a row
    pd.DataFrame({"sequence": letters.view(f"S{codes.shape[1]}").ravel().astype(str)}).to_parquet(path)
    return path


# ----- the model step alone ----------------------------------------------------------------------


#: section --variants: the model step with one of the run's choices changed (name: options of model_step_rate)
VARIANTS = {
    "as the run trains (compiled blocks, clipping, autocast cache off)": {},
    "without gradient clipping": {"clip": False},
    "with the autocast weight cache on": {"cache": True},
    "with the whole forward compiled (frontend, head)": {"scope": "model"},
}


def model_step_rate(
    config: Any, args: argparse.Namespace, device: torch.device, clip: bool = True, cache: bool = False, scope: Optional[str] = None,
    profile: int = 0,
) -> float:
    """Samples/s of the run's own step with batches already on the device; `clip`, `cache` (the
    autocast cache that Lightning's bf16-mixed turns off) and `scope` (compile "model" instead of
    the run's compiled blocks) change one choice for section --variants; `profile` steps more
    run under torch.profiler (see `profile_steps`)."""
    import dataclasses

    from dnabench.training.data import load_config_data
    from dnabench.training.engine import adamw_with_schedule, clip_gradients
    from dnabench.training.module import DNATaskModule
    from dnabench.training.run import build_model_for

    torch.manual_seed(0)
    data = load_config_data(config)
    if scope is not None:
        config = dataclasses.replace(config, compile=False)
    model = build_model_for(config, data)
    if scope is not None:
        model.compile(scope=scope)
    module = DNATaskModule(model, data.spec, data.labels, config.lr, config.weight_decay).to(device)
    module.train()
    optimizer = adamw_with_schedule(model, device, config.lr, config.weight_decay, 10_000, 0)["optimizer"]
    rows = data.split("train")
    batches = []
    for b in range(4):
        pick = rows[b * config.batch_size : (b + 1) * config.batch_size]
        codes, labels = data.source.get_batch(pick)
        batches.append((torch.from_numpy(np.ascontiguousarray(codes)).to(device), torch.from_numpy(np.asarray(labels, np.float32)).to(device)))
    autocast = args.precision.startswith("bf16")

    def step(i: int) -> None:
        codes, labels = batches[i % len(batches)]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast, cache_enabled=cache):  # off: as Lightning's bf16-mixed
            logits = module.logits(codes)
            loss = module.loss_fn(logits.float(), labels)
        loss.backward()
        if clip:
            clip_gradients(model, config.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for i in range(args.warmup):
        step(i)
    synchronize(device)
    t0 = time.perf_counter()
    for i in range(args.steps):
        step(i)
    synchronize(device)
    rate = args.steps * config.batch_size / (time.perf_counter() - t0)
    if profile:
        profile_steps(step, profile, device)
    return rate


def profile_steps(step: Any, steps: int, device: torch.device, top: int = 12) -> dict[str, Any]:
    """`steps` calls of `step` under torch.profiler: wall ms a step against the GPU's kernel ms a step
    (a step whose wall time exceeds its kernel time waits on the host), and the ops with the most
    host time of their own. Printed, and returned for the JSON."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    synchronize(device)
    with profile(activities=activities) as prof:
        t0 = time.perf_counter()
        for i in range(steps):
            step(i)
        synchronize(device)
        wall_ms = (time.perf_counter() - t0) * 1e3 / steps
    events = prof.key_averages()

    def device_us(event: Any) -> float:
        return float(getattr(event, "self_device_time_total", getattr(event, "self_cuda_time_total", 0.0)) or 0.0)

    gpu_ms = sum(device_us(e) for e in events) / 1e3 / steps
    ranked = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    rows = [{"op": e.key, "calls": e.count / steps, "host_ms": e.self_cpu_time_total / 1e3 / steps, "gpu_ms": device_us(e) / 1e3 / steps}
            for e in ranked]
    print(f"  profile of {steps} model steps: {wall_ms:.2f} ms a step, GPU kernels {gpu_ms:.2f} ms a step "
          f"({100 * gpu_ms / wall_ms:.0f} % busy)" if device.type == "cuda" else f"  profile of {steps} model steps: {wall_ms:.2f} ms a step")
    print("  | op (most host time of its own) | calls a step | host ms a step | GPU ms a step |")
    print("  |---|---:|---:|---:|")
    for row in rows:
        print(f"  | {row['op'][:60]} | {row['calls']:.1f} | {row['host_ms']:.3f} | {row['gpu_ms']:.3f} |")
    return {"steps": steps, "wall_ms": wall_ms, "gpu_ms": gpu_ms, "top_host_ops": rows}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ----- the end-to-end run ------------------------------------------------------------------------


class BusySampler:
    """The GPU's busy share (NVML utilization: time with a kernel running) sampled in a thread."""

    def __init__(self, device: torch.device, every_s: float = 0.1) -> None:
        self.device, self.every_s = device, every_s
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _read(self) -> Optional[float]:
        try:
            return float(torch.cuda.utilization(self.device))
        except Exception:  # no pynvml: ask nvidia-smi
            try:
                index = self.device.index or 0
                out = subprocess.run(["nvidia-smi", "-i", str(index), "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                                     capture_output=True, text=True, timeout=5).stdout
                return float(out.strip().splitlines()[0])
            except Exception:
                return None

    def start(self) -> None:
        if self.device.type != "cuda":
            return

        def loop() -> None:
            while not self._stop.wait(self.every_s):
                value = self._read()
                if value is not None:
                    self.samples.append(value)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def stop(self) -> Optional[float]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return statistics.mean(self.samples) if self.samples else None


def meter_class():
    from lightning.pytorch.callbacks import Callback

    class Meter(Callback):
        """Times the steady training window, validation and test, the device synchronised at each edge."""

        def __init__(self, skip: int, device: torch.device) -> None:
            self.skip, self.device = skip, device
            self.times: dict[str, float] = {}
            self.rows = {"val": 0, "test": 0}
            self.busy = BusySampler(device)
            self.busy_share: Optional[float] = None
            self._edge = 0.0

        def _now(self) -> float:
            synchronize(self.device)
            return time.perf_counter()

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            if trainer.global_step == self.skip and "train_start" not in self.times:
                self.times["train_start"] = self._now()
                self.busy.start()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if trainer.global_step == trainer.max_steps:
                self.times["train_end"] = self._now()
                self.busy_share = self.busy.stop()

        def on_validation_start(self, trainer, pl_module) -> None:
            self._edge = self._now()
            self.rows["val"] = 0  # the last pass counts: the first one compiles the evaluation graph

        def on_validation_end(self, trainer, pl_module) -> None:
            self.times["val"] = self._now() - self._edge

        def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
            self.rows["val"] += int(batch["real"]) if "real" in batch else batch["codes"].shape[0]

        def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
            self.rows["test"] += int(batch["real"]) if "real" in batch else batch["codes"].shape[0]

        def on_test_start(self, trainer, pl_module) -> None:
            self._edge = self._now()

        def on_test_end(self, trainer, pl_module) -> None:
            self.times["test"] = self._now() - self._edge

    return Meter


def phase_of(action: str) -> Optional[str]:
    """Where a Lightning profiler action belongs; None for actions nested in another one counted."""
    if action.endswith("train_dataloader_next"):
        return "loader wait"
    if action.startswith("[Strategy]") and action.endswith(".batch_to_device"):
        return "copy to device"
    if action == "run_training_batch":
        return "step"
    if action.endswith(("on_train_batch_start", "on_train_batch_end")):
        return "callbacks, logging"
    return None


def step_phases(profiler: Any, skip: int, total: int, step_ms: float) -> dict[str, float]:
    """Mean host ms a step of each phase over training steps skip..total (each action's first
    `total` calls are the training steps: validation and test come after); the rest of a
    step's wall time is Lightning's loop itself."""
    out: dict[str, float] = {}
    for action, durations in profiler.recorded_durations.items():
        phase = phase_of(action)
        if phase is None or len(durations) < total:
            continue
        tail = durations[skip:total]
        out[phase] = out.get(phase, 0.0) + 1e3 * sum(tail) / len(tail)
    out["loop, other"] = max(step_ms - sum(out.values()), 0.0)
    return out


def checkpoint_seconds(profiler: Any) -> float:
    return sum(sum(d) for action, d in profiler.recorded_durations.items() if "ModelCheckpoint" in action or action.endswith("save_checkpoint"))


def run_train(config: Any, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    from lightning.pytorch.profilers import SimpleProfiler

    from dnabench.training.run import train

    meter = meter_class()(args.warmup, device)
    profiler = SimpleProfiler()
    t0 = time.perf_counter()
    train(config, callbacks=[meter], profiler=profiler)
    wall = time.perf_counter() - t0
    window = meter.times["train_end"] - meter.times["train_start"]
    total = args.warmup + args.steps
    return {
        "train_rate": args.steps * config.batch_size / window,
        "busy": meter.busy_share,
        "phases": step_phases(profiler, args.warmup, total, 1e3 * window / args.steps),
        "val_rate": meter.rows["val"] / meter.times["val"] if meter.times.get("val") else None,
        "test_rate": meter.rows["test"] / meter.times["test"] if meter.times.get("test") else None,
        "checkpoint_s": checkpoint_seconds(profiler),
        "wall_s": wall,
        "step_ms": 1e3 * window / args.steps,
    }


# ----- inference ---------------------------------------------------------------------------------


def timed(call) -> float:
    t0 = time.perf_counter()
    call()
    return time.perf_counter() - t0


def inference_rates(run: Path, name: str, data: Path, genome: Optional[Path], args: argparse.Namespace, work: Path) -> dict[str, dict[str, float]]:
    """Rows/s of each inference command's library call: `cold` the first call (it loads and
    compiles the model), `warm` the second one (what every call after the first costs)."""
    from dnabench.training.features import extract_features
    from dnabench.training.inference import evaluate_run, predict_file

    table = data if name == "table" else store_sequences_table(data, genome, work / "predict_input.parquet", args.table_rows)
    features = work / "features"

    batch = args.inference_batch or args.batch_size

    def evaluate() -> int:
        return evaluate_run(run, bf16=True, batch_size=batch, genome=genome, out=work / "eval.json").rows

    def predict() -> int:
        predict_file(run, table, work / f"predictions_{name}.parquet", batch_size=batch, bf16=True)
        return _table_rows(table)

    def features_call() -> int:
        shutil.rmtree(features, ignore_errors=True)
        extract_features(run, data, features, genome=genome, batch_size=batch)
        meta = json.loads((features / "features.json").read_text())
        return int(meta.get("rows") or sum((meta.get("counts") or {}).values()))

    calls = {"evaluate": evaluate, "predict": predict, **({"features": features_call} if name == "store" else {})}
    rates: dict[str, dict[str, float]] = {}
    for what, call in calls.items():
        for when in ("cold", "warm"):
            rows: list[int] = []
            seconds = timed(lambda: rows.append(call()))
            rates.setdefault(what, {})[when] = rows[0] / seconds
    return rates


def _table_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


# ----- the whole run -----------------------------------------------------------------------------


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    from dnabench.training.config import TrainConfig

    # One process here compiles what several separate commands would (two models, training,
    # validation, test, evaluate, predict, features): more graphs than dynamo keeps by default.
    torch._dynamo.config.recompile_limit = 64
    device = torch.device("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "CPU"
    own_work = args.workdir is None
    work = Path(args.workdir or tempfile.mkdtemp(prefix="dnabench-e2e-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"# dnabench end-to-end training speed, {card}, {_dt.date.today()}, torch {torch.__version__}")
    print(f"# {args.model} {'compiled' if args.compile else 'eager'}, {args.precision}, batch {args.batch_size}"
          f"{f' (inference {args.inference_batch})' if args.inference_batch else ''}, "
          f"{args.length} bp, {args.warmup} warm-up + {args.steps} timed steps")
    results: list[dict[str, Any]] = []
    try:
        for name in args.input_list:
            t0 = time.perf_counter()
            genome = None
            if name == "table":
                data = work / "table.parquet"
                if not data.exists():
                    write_table(data, args.table_rows, args.length, seed=0)
                described = f"table: {args.table_rows:,} sequences of {args.length} bp, 1 label"
            else:
                if not (work / "store" / "card.json").exists():
                    write_store(work, args)
                data, genome = work / "store", work / "cache"
                described = f"store: {args.store_rows:,} windows of {args.length} bp on a {args.mbp:g} Mbp genome, {args.labels} sparse labels"
            print(f"\n## {described} (built in {time.perf_counter() - t0:.0f} s)")
            train_rows = int((0.8 * args.table_rows) if name == "table" else (0.9 * args.store_rows))
            if args.warmup + args.steps > train_rows // args.batch_size:
                raise SystemExit(f"{name}: {args.warmup + args.steps} steps do not fit in one epoch of {train_rows // args.batch_size}; "
                                 "give more rows or fewer steps (the timed window must hold no epoch end)")
            base = dict(data=str(data), genome=str(genome) if genome else None, model=args.model, model_options=args.model_options,
                        max_steps=args.warmup + args.steps, max_epochs=1000, batch_size=args.batch_size, compile=args.compile,
                        precision=args.precision, devices="1", progress=False, reverse_complement_augment=name == "store")
            step = model_step_rate(TrainConfig(**base, out=str(work / "unused")), args, device, profile=args.profile)
            print(f"model step: {step:,.0f} seq/s")
            if args.variants:
                for label, options in list(VARIANTS.items())[1:]:
                    rate = model_step_rate(TrainConfig(**base, out=str(work / "unused")), args, device, **options)
                    print(f"  model step {label}: {rate:,.0f} seq/s ({rate / step:.2f}x)")
            for workers in args.worker_counts:
                run = work / f"run_{name}_w{workers}"
                shutil.rmtree(run, ignore_errors=True)
                measured = run_train(TrainConfig(**base, out=str(run), num_workers=workers), args, device)
                inference = inference_rates(run, name, data, genome, args, work) if workers == args.worker_counts[-1] else {}
                results.append({"input": name, "workers": workers, "model_step": step, **measured, "inference": inference})
                print_result(results[-1])
                if args.json:  # after each row, so that a run cut short keeps what it measured
                    Path(args.json).write_text(json.dumps({"card": card, "date": str(_dt.date.today()), "results": results}, indent=1))
    finally:
        if own_work:
            shutil.rmtree(work, ignore_errors=True)
    print_summary(results)
    return 0


def _rate(value: Optional[float], step: float) -> str:
    return "-" if value is None else f"{value:,.0f} ({value / step:.2f}x)"


def print_result(r: dict[str, Any]) -> None:
    step = r["model_step"]
    busy = "n/a" if r["busy"] is None else f"{r['busy']:.0f} %"
    print(f"train, {r['workers']} loader workers: {r['train_rate']:,.0f} seq/s = {r['train_rate'] / step:.1%} of the model step "
          f"({r['step_ms']:.1f} ms a step, GPU busy {busy}); run wall time {r['wall_s']:.0f} s, checkpoints {r['checkpoint_s']:.1f} s")
    print("  where a steady step's host time goes (ms): " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(r["phases"].items())))
    print(f"  validation {_rate(r['val_rate'], step)} rows/s, test {_rate(r['test_rate'], step)} rows/s")
    for what, value in r["inference"].items():
        print(f"  {what}: first call {_rate(value['cold'], step)}, next call {_rate(value['warm'], step)} rows/s (whole library call)")


def print_summary(results: list[dict[str, Any]]) -> None:
    print("\n(x: rows/s over the model step's seq/s; evaluate, predict and features: their second call)")
    print("| input | loader workers | model step seq/s | train seq/s | of step | GPU busy | validation x | evaluate x | predict x | features x |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        step, inf = r["model_step"], r["inference"]

        def ratio(v: Optional[float]) -> str:
            return "-" if v is None else f"{v / step:.2f}"

        busy = "n/a" if r["busy"] is None else f"{r['busy']:.0f} %"
        print(f"| {r['input']} | {r['workers']} | {step:,.0f} | {r['train_rate']:,.0f} | {r['train_rate'] / step:.1%} | {busy} | "
              f"{ratio(r['val_rate'])} | {ratio(inf.get('evaluate', {}).get('warm'))} | {ratio(inf.get('predict', {}).get('warm'))} | "
              f"{ratio(inf.get('features', {}).get('warm'))} |")
    met = all(r["train_rate"] / r["model_step"] >= STEP_GOAL for r in results)
    print(f"\ngoal: train >= {STEP_GOAL:.0%} of the model step: {'met' if met else 'not met'}; "
          f"inference >= {INFERENCE_GOAL:g}x the step: see the x columns")


if __name__ == "__main__":
    sys.exit(main())
