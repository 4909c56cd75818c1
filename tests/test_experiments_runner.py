"""The benchmark runner: a tiny config end to end on the CPU, skip and resume after a kill, stale
folders moved aside (never deleted), dry runs that touch nothing, and the multi-device scheduler."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from rich.console import Console

from dnabench.experiments.config import load_experiment
from dnabench.experiments.plan import Step, build_plan
from dnabench.experiments.runner import StepBlocked, run_benchmark, schedule
from dnabench.experiments.steps import step_state

CNN = {"channels": [16, 16], "kernel_size": 8, "pool_size": 4, "fc_size": 32}
TRANSFORMER = {"hidden_size": 32, "num_layers": 1, "num_heads": 4, "ffn_size": 64}


def motif_table(path: Path, rows: int = 240, length: int = 48, seed: int = 0) -> Path:
    """Label 1 where a TATA box is planted: learnt in a few steps."""
    rng = np.random.default_rng(seed)
    seqs = rng.choice(np.array(list("ACGT")), size=(rows, length))
    label = rng.random(rows) < 0.5
    seqs[label, 16:24] = list("TATAAAAG")
    pd.DataFrame({"sequence": ["".join(s) for s in seqs], "label": label.astype(float)}).to_csv(path, index=False)
    return path


def tiny_config(folder: Path, seeds=(0, 1), pretrain: bool = True, tasks=("a", "b")) -> Path:
    """Two window tasks (tables), a CNN and a Transformer (from an MLM dependency), two seeds."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(tasks):
        if not (folder / f"{name}.csv").is_file():
            motif_table(folder / f"{name}.csv", seed=i + 1)
    transformer = {"model": "transformer", "label": "Attention", "model_options": TRANSFORMER, "train": {"lr": 3e-3}}
    if pretrain:
        transformer["init"] = "mlm"
    config = {
        "name": "tiny", "title": "Tiny", "table": "T",
        "tasks": {name: {"store": f"{name}.csv", "label": f"Task {name.upper()}", "metrics": ["auroc", "auprc"]} for name in tasks},
        "models": {"cnn": {"model": "cnn_fc", "label": "CNN", "model_options": CNN, "train": {"lr": 3e-3}}, "tf": transformer},
        "seeds": list(seeds),
        "train": {"max_epochs": 1, "batch_size": 64},
        "layout": {"rows": ["task"], "columns": ["model", "metric"], "best": "model"},
        "scales": {"small": {}, "full": {"train": {"max_epochs": 5}}},
    }
    if pretrain:
        config["dependencies"] = {"mlm": {"kind": "pretrain", "data": [f"{tasks[0]}.csv"], "options": {
            "length": 48, "batch_size": 32, "max_epochs": 1, "warmup_steps": 2, "val_fraction": 0.1, "table_splits": ["train"]}}}
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def quiet() -> Console:
    return Console(file=io.StringIO(), width=120)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (a busy machine's spinning OpenMP threads slow them)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    config = tiny_config(tmp / "stores")
    result = run_benchmark(config, tmp / "out", stores=tmp / "stores", console=quiet())
    return {"tmp": tmp, "config": config, "result": result, "out": tmp / "out"}


def test_tiny_benchmark_runs_end_to_end(finished):
    result, out = finished["result"], finished["out"]
    assert result.ok and not result.failed and not result.skipped
    assert len(result.done) == 9  # 1 pretraining + 2 tasks x 2 models x 2 seeds
    plan = json.loads((out / "plan.json").read_text())
    ids = [s["id"] for s in plan["steps"]]
    assert ids.index("pretrain/mlm/tf/seed-0") < ids.index("runs/a/tf/seed-0")
    assert {s["id"] for s in plan["steps"] if s["result"]} == {f"runs/{t}/{m}/seed-{s}" for t in "ab" for m in ("cnn", "tf") for s in (0, 1)}
    state = json.loads((out / "state.json").read_text())
    assert all(v["status"] == "done" for v in state.values()) and len(state) == 9
    config = json.loads((out / "runs/a/tf/seed-1/run.json").read_text())
    assert config["task"]["kind"] == "binary"
    init = yaml.safe_load((out / "runs/a/tf/seed-1/config.yaml").read_text())["init"]
    assert Path(init) == (out / "pretrain/mlm/tf/seed-0").resolve()
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 16 and set(runs["metric"]) == {"auroc", "auprc"}
    for rec in runs.itertuples():
        test = json.loads((out / rec.run / "metrics.json").read_text())["test"]
        assert rec.value == pytest.approx(test[rec.metric])
    md = (out / "results.md").read_text()
    assert "CNN AUROC" in md and "Attention AUPRC" in md and "(n=2)" in md and "**" in md
    cells = pd.read_csv(out / "results.csv")
    assert len(cells) == 8 and (cells["n"] == 2).all()


def test_second_call_skips_every_finished_step(finished):
    out = finished["out"]
    stamp = (out / "runs/a/cnn/seed-0/metrics.json").stat().st_mtime_ns
    again = run_benchmark(finished["config"], out, stores=finished["tmp"] / "stores", console=quiet())
    assert not again.done and len(again.skipped) == 9
    assert (out / "runs/a/cnn/seed-0/metrics.json").stat().st_mtime_ns == stamp


def test_dry_run_touches_nothing(finished, tmp_path):
    console = quiet()
    fresh = tmp_path / "never"
    result = run_benchmark(finished["config"], fresh, stores=finished["tmp"] / "stores", dry_run=True, console=console)
    assert result.dry_run and not fresh.exists() and not result.problems
    text = console.file.getvalue()
    assert "pretrain/mlm/tf/seed-0" in text and "estimated time" in text
    out = finished["out"]
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    console = quiet()
    run_benchmark(finished["config"], out, stores=finished["tmp"] / "stores", dry_run=True, console=console)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
    assert "done" in console.file.getvalue()


class Killed(Exception):
    pass


def test_killed_benchmark_continues_where_it_stopped(tmp_path):
    """Killed (an exception from the step hook) after its first training run, started again: the
    same results as a run that was never stopped, and the first run is not redone."""
    config = tiny_config(tmp_path / "stores", seeds=(0,), tasks=("a",))
    stores = tmp_path / "stores"
    reference = run_benchmark(config, tmp_path / "reference", stores=stores, console=quiet())
    assert reference.ok and len(reference.done) == 3
    out = tmp_path / "out"
    seen: list[str] = []

    def kill_after_first_run(step, error):
        seen.append(step.id)
        if step.kind == "train":
            raise Killed(step.id)

    with pytest.raises(Killed):
        run_benchmark(config, out, stores=stores, console=quiet(), on_step=kill_after_first_run)
    first = seen[-1]
    stamp = (out / first / "metrics.json").stat().st_mtime_ns
    assert (out / "results.md").is_file() and json.loads((out / "state.json").read_text())[first]["status"] == "done"
    result = run_benchmark(config, out, stores=stores, console=quiet())
    assert first in result.skipped and first not in result.done
    assert set(seen) <= set(result.skipped) and len(result.done) + len(result.skipped) == 3
    assert (out / first / "metrics.json").stat().st_mtime_ns == stamp
    mine, theirs = pd.read_csv(out / "results.csv"), pd.read_csv(tmp_path / "reference" / "results.csv")
    assert mine[["row", "column", "metric"]].equals(theirs[["row", "column", "metric"]])
    assert np.allclose(mine["mean"], theirs["mean"], atol=1e-6)


def _one_step_config(tmp: Path, epochs: int = 1) -> Path:
    path = tiny_config(tmp, seeds=(0,), pretrain=False, tasks=("a",))
    data = yaml.safe_load(path.read_text())
    del data["models"]["tf"]
    data["train"]["max_epochs"] = epochs
    path.write_text(yaml.safe_dump(data))
    return path


def test_broken_run_is_resumed_from_its_checkpoint(tmp_path):
    from lightning.pytorch.callbacks import Callback

    from dnabench.training.config import TrainConfig
    from dnabench.training.run import train

    config = _one_step_config(tmp_path / "stores", epochs=2)
    plan = build_plan(load_experiment(config), tmp_path / "out", tmp_path / "stores")
    step = plan.step("runs/a/cnn/seed-0")

    class InterruptSecondEpoch(Callback):
        def on_train_batch_end(self, trainer, *args):
            if trainer.current_epoch == 1:
                raise KeyboardInterrupt

    with pytest.raises((KeyboardInterrupt, SystemExit)):  # Lightning saves interrupted.ckpt, then exits
        train(TrainConfig.from_dict(dict(step.config)), callbacks=[InterruptSecondEpoch()])
    assert step_state(step) == "partial"
    console = quiet()
    result = run_benchmark(config, tmp_path / "out", stores=tmp_path / "stores", console=console)
    assert result.done == [step.id] and step_state(step) == "done"
    assert "resume train runs/a/cnn/seed-0" in console.file.getvalue()
    assert json.loads((tmp_path / "out" / step.id / "metrics.json").read_text())["epochs"] == 2


def test_stale_folder_is_moved_aside_only_when_the_benchmark_made_it(tmp_path):
    config = _one_step_config(tmp_path / "stores")
    out = tmp_path / "out"
    folder = out / "runs/a/cnn/seed-0"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")
    result = run_benchmark(config, out, stores=tmp_path / "stores", console=quiet())
    assert "runs/a/cnn/seed-0" in result.failed and "did not make it" in result.failed["runs/a/cnn/seed-0"]
    assert (folder / "notes.txt").read_text() == "mine"
    (folder / "notes.txt").unlink()
    (folder / "config.yaml").write_text("model: cnn_fc\n")  # what a run that failed before its first checkpoint leaves
    state = json.loads((out / "state.json").read_text())
    assert state["runs/a/cnn/seed-0"]["status"] == "failed"
    result = run_benchmark(config, out, stores=tmp_path / "stores", console=quiet())
    assert result.done == ["runs/a/cnn/seed-0"]
    aside = out / "runs/a/cnn/seed-0.failed-1"
    assert (aside / "config.yaml").read_text() == "model: cnn_fc\n" and (folder / "metrics.json").is_file()


def test_scheduler_runs_independent_steps_at_once_after_their_dependencies():
    steps = [Step("a", "train"), Step("b", "train"), Step("c", "train", ["a"]), Step("d", "train", ["b", "c"]),
             Step("bad", "train"), Step("after_bad", "train", ["bad"]), Step("e", "train")]
    times: dict[str, tuple[float, float, str]] = {}
    lock = threading.Lock()
    durations = {"a": 0.3, "b": 0.1, "c": 0.1, "d": 0.05, "bad": 0.05, "e": 0.05}

    def fake_execute(step, slot):
        start = time.monotonic()
        time.sleep(durations.get(step.id, 0.05))
        with lock:
            times[step.id] = (start, time.monotonic(), slot)
        if step.id == "bad":
            raise RuntimeError("boom")

    outcomes: dict[str, BaseException | None] = {}
    schedule(steps, ["gpu0", "gpu1"], fake_execute, lambda s, e: outcomes.__setitem__(s.id, e))
    assert times["a"][0] < times["b"][1] and times["b"][0] < times["a"][1]  # a and b ran at once
    assert {times["a"][2], times["b"][2]} == {"gpu0", "gpu1"}
    for step in steps:
        for need in step.needs:
            if step.id in times:
                assert times[step.id][0] >= times[need][1], (step.id, need)
    assert isinstance(outcomes["bad"], RuntimeError) and isinstance(outcomes["after_bad"], StepBlocked)
    assert "after_bad" not in times and outcomes["d"] is None and outcomes["e"] is None
    busy = sorted((s, e) for s, e, _ in times.values())
    for i, (start, _) in enumerate(busy):  # never more steps at once than slots
        assert sum(1 for s, e in busy if s <= start < e) <= 2


def test_scheduler_with_one_slot_runs_in_order_here():
    order = []
    steps = [Step("a", "train"), Step("b", "train", ["a"]), Step("c", "train")]
    schedule(steps, [None], lambda s, slot: order.append((s.id, threading.current_thread() is threading.main_thread())),
             lambda s, e: None, complete={"c"})
    assert order == [("a", True), ("b", True)]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="one process a GPU: needs CUDA (on a CPU each process spends its time importing torch)")
def test_several_devices_run_one_process_each(tmp_path):
    """`devices=2`: each step in its own `python -m dnabench.experiments.steps` process with its GPU
    in CUDA_VISIBLE_DEVICES, its output in OUT/logs (slow on a CPU: each process imports torch)."""
    config = _one_step_config(tmp_path / "stores")
    data = yaml.safe_load(config.read_text())
    data["seeds"] = [0, 1]
    config.write_text(yaml.safe_dump(data))
    result = run_benchmark(config, tmp_path / "out", stores=tmp_path / "stores", devices=2, console=quiet())
    assert sorted(result.done) == ["runs/a/cnn/seed-0", "runs/a/cnn/seed-1"] and not result.failed
    logs = sorted((tmp_path / "out" / "logs").glob("*.log"))
    assert [p.name for p in logs] == ["runs__a__cnn__seed-0.log", "runs__a__cnn__seed-1.log"]
    assert {p.read_text().split("CUDA_VISIBLE_DEVICES=")[1][0] for p in logs} == {"0", "1"}
    assert pd.read_csv(tmp_path / "out" / "results.csv")["n"].tolist() == [2, 2]


def test_a_finished_run_with_other_settings_is_run_again_and_the_old_one_kept(tmp_path):
    """Editing an option that is not part of the folder name (the learning rate) must not leave
    the old result in the table: the folder is moved aside and the step runs again."""
    config = _one_step_config(tmp_path / "stores")
    out = tmp_path / "out"
    first = run_benchmark(config, out, stores=tmp_path / "stores", console=quiet())
    assert first.done == ["runs/a/cnn/seed-0"]
    again = run_benchmark(config, out, stores=tmp_path / "stores", console=quiet())
    assert again.done == [] and again.skipped == ["runs/a/cnn/seed-0"]
    data = yaml.safe_load(config.read_text())
    data["models"]["cnn"]["train"]["lr"] = 0.0123
    config.write_text(yaml.safe_dump(data))
    console = quiet()
    edited = run_benchmark(config, out, stores=tmp_path / "stores", console=console)
    assert edited.done == ["runs/a/cnn/seed-0"] and "other settings or data" in " ".join(console.file.getvalue().split())
    assert yaml.safe_load((out / "runs/a/cnn/seed-0" / "config.yaml").read_text())["lr"] == 0.0123
    assert yaml.safe_load((out / "runs/a/cnn/seed-0.failed-1" / "config.yaml").read_text())["lr"] != 0.0123


def test_a_changed_run_shows_in_the_dry_run_and_leaves_the_table(tmp_path):
    """Until it is redone, a run made with other settings is marked so by --dry-run and counts in no cell."""
    from dnabench.experiments.results import collect
    from dnabench.experiments.runner import changed_steps

    config = _one_step_config(tmp_path / "stores")
    out = tmp_path / "out"
    run_benchmark(config, out, stores=tmp_path / "stores", console=quiet())
    data = yaml.safe_load(config.read_text())
    data["models"]["cnn"]["train"]["lr"] = 0.0123
    config.write_text(yaml.safe_dump(data))
    console = quiet()
    run_benchmark(config, out, stores=tmp_path / "stores", dry_run=True, console=console)
    assert "changed: redone" in console.file.getvalue()
    plan = build_plan(load_experiment(config), out, tmp_path / "stores")
    changed = changed_steps(plan, json.loads((out / "state.json").read_text()))
    assert changed == {"runs/a/cnn/seed-0"}
    assert len(collect(plan)) and collect(plan, exclude=changed).empty


def test_a_benchmark_folder_moved_with_its_stores_keeps_its_finished_steps(tmp_path):
    import shutil

    config = _one_step_config(tmp_path / "first" / "stores")
    run_benchmark(config, tmp_path / "first" / "out", stores=tmp_path / "first" / "stores", console=quiet())
    shutil.copytree(tmp_path / "first", tmp_path / "moved")
    again = run_benchmark(tmp_path / "moved" / "stores" / config.name, tmp_path / "moved" / "out", stores=tmp_path / "moved" / "stores", console=quiet())
    assert again.done == [] and again.skipped == ["runs/a/cnn/seed-0"]
    assert not list((tmp_path / "moved" / "out" / "runs" / "a" / "cnn").glob("*.failed-*"))


def _record_many(out: str, tag: str, barrier) -> None:
    from dnabench.experiments.runner import _State

    state = _State(Path(out))
    barrier.wait()  # both have read state.json before either writes: each must take in the other's records
    for i in range(25):
        state.set(f"{tag}/{i}", status="done")


def test_runner_processes_sharing_an_out_keep_each_others_records(tmp_path):
    """Two runners on one OUT (a SLURM array, two --only calls): state.json holds the records of both."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [context.Process(target=_record_many, args=(str(tmp_path), tag, barrier)) for tag in ("one", "two")]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
        assert w.exitcode == 0
    steps = json.loads((tmp_path / "state.json").read_text())
    assert {f"{tag}/{i}" for tag in ("one", "two") for i in range(25)} <= set(steps)
