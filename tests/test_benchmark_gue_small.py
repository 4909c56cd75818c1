"""``benchmarks/gue_small.py --smoke``: every model runs on a tiny GUE-like table and the printed
table holds the numbers of the run folders."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gue_small.py"
MODELS = ("kmer_lr", "cnn_fc", "cnn_lstm", "transformer", "transformer_mlm")
LABELS = {"transformer": "transformer (scratch)", "transformer_mlm": "transformer (MLM)"}


def load_script():
    """The script as a module, run in this process (one import of torch and Lightning, not one a call)."""
    spec = importlib.util.spec_from_file_location("gue_small", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def write_gue_folder(root: Path, rows: int = 160, length: int = 48) -> Path:
    """A GUE-layout folder (dev.csv + test.csv, header sequence,label): positives carry a motif."""
    rng = np.random.default_rng(5)
    letters = np.array(list("ACGT"))
    seqs, labels = [], []
    for i in range(rows):
        seq = letters[rng.integers(0, 4, length)]
        label = i % 2
        if label:
            at = rng.integers(0, length - 8)
            seq[at:at + 8] = list("TATAAAAG")
        seqs.append("".join(seq))
        labels.append(label)
    folder = root / "GUE_toy"
    folder.mkdir(parents=True)
    frame = pd.DataFrame({"sequence": seqs, "label": labels})
    frame.iloc[: rows // 2].to_csv(folder / "dev.csv", index=False)
    frame.iloc[rows // 2:].to_csv(folder / "test.csv", index=False)
    return folder


def markdown_row(stdout: str, table: str) -> dict[str, str]:
    """{column header: cell} of the printed table's row for `table`."""
    lines = [line for line in stdout.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == table:
            return dict(zip(header, cells))
    raise AssertionError(f"no row {table!r} in\n{stdout}")


def test_smoke_table_holds_every_model_and_the_runs_numbers(tmp_path, capsys):
    script = load_script()
    write_gue_folder(tmp_path / "gue")
    out = tmp_path / "out"
    assert script.main(["--smoke", "--gue-root", str(tmp_path / "gue"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "device: CPU" in printed and "n = 1 seed" in printed
    assert "toy: 160 rows from dev.csv, test.csv" in printed
    row = markdown_row(printed, "toy")
    runs = pd.read_csv(out / "results.csv")
    assert sorted(runs["model"]) == sorted(MODELS)
    for model in MODELS:
        folder = out / "runs" / "toy" / "seed0" / model
        test = json.loads((folder / "metrics.json").read_text())["test"]
        expected = " / ".join(f"{test[m]:.3f}" for m in ("auroc", "auprc", "mcc"))
        assert row[f"{LABELS.get(model, model)}: AUROC / AUPRC / MCC"] == expected
        assert np.isclose(runs.loc[runs["model"] == model, "auroc"].item(), test["auroc"])
    assert markdown_row((out / "results.md").read_text(), "toy") == row

    # the split column of the copy is the one every run and the pretraining read
    copy = pd.read_parquet(out / "tables" / "toy.seed0.parquet")
    assert len(copy) == 160 and set(copy["split"]) == {"train", "val", "test"}
    pretrain = json.loads((out / "runs" / "toy" / "seed0" / "pretrain" / "run.json").read_text())
    assert pretrain["inputs"][0]["rows_used"] == int((copy["split"] == "train").sum())
    for model in MODELS[1:]:
        described = json.loads((out / "runs" / "toy" / "seed0" / model / "run.json").read_text())["data_description"]
        assert "split by its 'split' column" in described

    # a second call with the same --out reuses the finished runs and prints the same numbers
    assert script.main(["--smoke", "--gue-root", str(tmp_path / "gue"), "--out", str(out), "--models", "kmer_lr"]) == 0
    again = capsys.readouterr().out
    assert markdown_row(again, "toy")["kmer_lr: AUROC / AUPRC / MCC"] == row["kmer_lr: AUROC / AUPRC / MCC"]
    reused = pd.read_csv(out / "results.csv").iloc[0]
    assert np.isnan(reused["wall_s"]) and reused["train_s"] == runs.loc[runs["model"] == "kmer_lr", "train_s"].item()


def test_unknown_table_is_a_clear_error(tmp_path, capsys):
    script = load_script()
    write_gue_folder(tmp_path / "gue", rows=20)
    with pytest.raises(SystemExit) as exit_:
        script.main(["--gue-root", str(tmp_path / "gue"), "--tables", "prom_999"])
    assert exit_.value.code == 2
    assert "prom_999 not found; have toy" in capsys.readouterr().err



def test_a_stopped_call_still_writes_the_runs_it_finished(tmp_path, capsys, monkeypatch):
    """Ctrl-C during a training run (Lightning turns it into sys.exit(1)) after the first run
    finished: the table holds that run and says that the call stopped, the exit status is 130, and
    a second call with the same --out runs only the rest."""
    import signal

    from dnabench.training.module import DNATaskModule

    script = load_script()
    write_gue_folder(tmp_path / "gue")
    out = tmp_path / "out"

    def interrupted(self, batch, batch_idx):
        raise KeyboardInterrupt

    monkeypatch.setattr(DNATaskModule, "training_step", interrupted)
    argv = ["--smoke", "--gue-root", str(tmp_path / "gue"), "--out", str(out), "--models", "kmer_lr", "cnn_fc"]
    sigint = signal.getsignal(signal.SIGINT)
    try:
        assert script.main(argv) == 130
    finally:
        signal.signal(signal.SIGINT, sigint)  # Lightning ignores Ctrl-C from its first one on
    captured = capsys.readouterr()
    assert "stopped: 1 of 2 runs finished" in captured.err
    assert "Stopped before the end: 1 of 2 runs are in this table" in (out / "results.md").read_text()
    assert list(pd.read_csv(out / "results.csv")["model"]) == ["kmer_lr"]
    assert json.loads((out / "results.json").read_text())["stopped"] is True

    monkeypatch.undo()
    assert script.main(argv) == 0
    assert sorted(pd.read_csv(out / "results.csv")["model"]) == ["cnn_fc", "kmer_lr"]
    assert "Stopped" not in (out / "results.md").read_text()


def test_merge_renders_one_table_from_several_calls(tmp_path, capsys):
    """--merge: the rows of several results.csv as one table, a run in two files from the later one,
    built-in columns first; a file that is not a results.csv is named."""
    script = load_script()
    one = pd.DataFrame({"table": ["tf_0"] * 4, "model": ["onehot", "onehot", "kmer_lr", "kmer_lr"], "seed": [0, 1, 0, 1],
                        "auroc": [0.6, 0.8, 0.7, 0.9], "auprc": [0.5] * 4, "mcc": [0.1] * 4, "device": ["NVIDIA H200"] * 4})
    two = pd.DataFrame({"table": ["prom", "tf_0"], "model": ["kmer_lr", "kmer_lr"], "seed": [0, 1],
                        "auroc": [0.75, 0.5], "auprc": [0.4, 0.5], "mcc": [0.2, 0.1], "device": ["cpu", "cpu"]})
    one.to_csv(tmp_path / "one.csv", index=False)
    two.to_csv(tmp_path / "two.csv", index=False)
    out = tmp_path / "merged"
    assert script.main(["--merge", str(tmp_path / "one.csv"), str(tmp_path / "two.csv"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    header = next(line for line in printed.splitlines() if line.startswith("| table"))
    assert header.index("kmer_lr") < header.index("onehot")
    tf0 = markdown_row(printed, "tf_0")
    assert tf0["kmer_lr: AUROC / AUPRC / MCC"].startswith(f"{np.mean([0.7, 0.5]):.3f} ± {np.std([0.7, 0.5], ddof=1):.3f}")
    assert tf0["onehot: AUROC / AUPRC / MCC"].startswith("0.700 ± 0.141")
    assert markdown_row(printed, "prom")["onehot: AUROC / AUPRC / MCC"] == "–"
    assert "(n=1)" in markdown_row(printed, "prom")["kmer_lr: AUROC / AUPRC / MCC"]
    assert "device: NVIDIA H200" in printed and len(pd.read_csv(out / "results.csv")) == 5
    assert len(json.loads((out / "results.json").read_text())["runs"]) == 5

    pd.DataFrame({"table": ["x"]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(SystemExit, match=r"bad.csv: no column\(s\) auprc, auroc, mcc, model, seed"):
        script.main(["--merge", str(tmp_path / "bad.csv"), "--out", str(out)])

RECIPES = """
mean_rc:
  model: transformer
  model_options: {pooling: mean}
  train: {reverse_complement_augment: true, lr: 0.001}
mean_mlm:
  model: transformer
  model_options: {pooling: mean}
  pretrain: transformer_mlm
too_short:
  model: transformer
  model_options: {positions: absolute, max_positions: 4}
"""


def test_recipes_add_columns_and_run_in_parallel_processes(tmp_path, capsys):
    """--recipes adds one column a recipe, with its model options and training overrides in the run;
    a recipe that names transformer_mlm starts from that column's pretraining (made once, although
    --jobs 2 runs both in separate processes at once)."""
    script = load_script()
    write_gue_folder(tmp_path / "gue")
    recipes = tmp_path / "recipes.yaml"
    recipes.write_text(RECIPES)
    out = tmp_path / "out"
    argv = ["--smoke", "--gue-root", str(tmp_path / "gue"), "--out", str(out), "--recipes", str(recipes),
            "--models", "kmer_lr", "transformer_mlm", "mean_rc", "mean_mlm", "too_short", "--jobs", "2"]
    assert script.main(argv) == 1  # too_short's runs fail: the table holds the others
    captured = capsys.readouterr()
    printed = captured.out
    assert "1 run(s) failed" in captured.err and "toy seed 0 too_short (failed, log" in captured.err
    assert "max_positions" in captured.err  # the end of the failed run's log
    assert "- recipe mean_rc: transformer; options" in printed and "pooling=mean" in printed
    assert "reverse_complement_augment=True" in printed and "after MLM pretraining (pretrain)" in printed
    row = markdown_row(printed, "toy")
    assert [h.split(":")[0] for h in row][1:] == ["kmer_lr", "transformer (MLM)", "mean_rc", "mean_mlm", "too_short"]
    assert row["too_short: AUROC / AUPRC / MCC"] == "–"
    seed_root = out / "runs" / "toy" / "seed0"
    assert sorted(p.name for p in seed_root.iterdir() if not p.name.startswith(".")) == sorted(
        ["kmer_lr", "transformer_mlm", "mean_rc", "mean_mlm", "pretrain", "too_short"])
    assert not (seed_root / "too_short" / "metrics.json").exists()
    for name in ("mean_rc", "mean_mlm"):
        test = json.loads((seed_root / name / "metrics.json").read_text())["test"]
        assert row[f"{name}: AUROC / AUPRC / MCC"] == " / ".join(f"{test[m]:.3f}" for m in ("auroc", "auprc", "mcc"))
        assert json.loads((seed_root / name / "best" / "config.json").read_text())["config"]["pooling"] == "mean"
    config = yaml.safe_load((seed_root / "mean_rc" / "config.yaml").read_text())
    assert config["reverse_complement_augment"] is True and config["lr"] == 0.001
    assert config["min_epochs"] == 1  # --min-epochs 10, held to the smoke run's single epoch
    assert yaml.safe_load((seed_root / "mean_mlm" / "config.yaml").read_text())["init"] == str(seed_root / "pretrain")
    assert (out / "logs" / "toy.seed0.mean_rc.log").is_file()
    # a second call starts no finished run again and prints the same cell
    again = ["--smoke", "--gue-root", str(tmp_path / "gue"), "--out", str(out), "--recipes", str(recipes),
             "--models", "mean_rc", "--jobs", "2"]
    assert script.main(again) == 0
    printed = capsys.readouterr().out
    assert "finished in" not in printed and markdown_row(printed, "toy")["mean_rc: AUROC / AUPRC / MCC"] == row["mean_rc: AUROC / AUPRC / MCC"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("a:\n  model: transformer\n  train: {seed: 3}\n", "recipe 'a': train may not set seed"),
        ("a:\n  model: transformer\n  epochs: 3\n", "recipe 'a': unknown key(s) epochs"),
        ("a:\n  model: resnet\n", "recipe 'a': model must be one of"),
        ("a:\n  model: transformer\n  model_options: {pooling: max}\n", "recipe 'a': TransformerConfig.pooling must be one of"),
        ("a:\n  model: cnn_fc\n  pretrain: true\n", "recipe 'a': only a transformer starts from MLM pretraining"),
        ("a:\n  model: transformer\n  pretrain: cnn_fc\n", "recipe 'a': pretrain must be true, false or the name"),
        ("transformer:\n  model: transformer\n", "recipe 'transformer': the name is taken"),
        ("a: [1\n", "not valid YAML"),
        ("a:\n  model: transformer\n  model_options: [1]\n", "recipe 'a': model_options must be a mapping"),
        ("a:\n  model: transformer\n  pretrain: [1]\n", "recipe 'a': pretrain must be true, false"),
        ("a:\n  model: transformer\n  model_options: {tokenizer: onehot}\n  pretrain: transformer_mlm\n",
         "recipe 'a': --init (the pretraining of transformer_mlm): the source model has tokenizer='patch'"),
    ],
)
def test_recipe_mistakes_name_the_file_and_recipe(tmp_path, capsys, text, message):
    script = load_script()
    write_gue_folder(tmp_path / "gue", rows=20)
    recipes = tmp_path / "recipes.yaml"
    recipes.write_text(text)
    with pytest.raises(SystemExit) as exit_:
        script.main(["--gue-root", str(tmp_path / "gue"), "--recipes", str(recipes)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"--recipes {recipes}" in err and message in err


def test_the_shipped_recipes_file_reads(tmp_path):
    script = load_script()
    write_gue_folder(tmp_path / "gue", rows=20)
    args = script.parse_args(["--gue-root", str(tmp_path / "gue"), "--recipes", str(ROOT / "benchmarks" / "gue_recipes.yaml")])
    recipes = [c for c in args.columns if c.name not in MODELS]
    assert recipes and all(c.model == "transformer" for c in recipes)
    assert [c.name for c in args.columns[: len(MODELS)]] == list(MODELS)
    own = {c.pretrain: c for c in recipes if c.pretrain == f"pretrain-{c.name}"}
    assert own and all(c.pretrain_options == c.model_options for c in own.values())
    shared = [c for c in recipes if c.pretrain is not None and c.pretrain not in (f"pretrain-{c.name}", "pretrain")]
    assert all(c.pretrain in own and c.pretrain_options == own[c.pretrain].model_options for c in shared)


def test_pretrain_extra_sequences_join_the_pool_less_copies_of_scored_rows(tmp_path, capsys, shared_data):
    """--pretrain-extra: the pretraining reads the training rows plus the extra sequences (here the
    janggu Oct4 peaks of the shared data and two planted records), less every one that holds a
    24-mer of a val or test row on either strand: the planted copy and reverse complement."""
    janggu = shared_data / "Track7878" / "janggu_oct4_mafk" / "sample.fa"
    if not janggu.is_file():
        pytest.skip(f"{janggu} is not in the shared data")
    script = load_script()
    write_gue_folder(tmp_path / "gue")
    out = tmp_path / "out"
    # the split copy decides which rows are scored: make it first, then plant copies of one of them
    assert script.main(["--smoke", "--gue-root", str(tmp_path / "gue"), "--out", str(out), "--models", "kmer_lr"]) == 0
    capsys.readouterr()
    copy = pd.read_parquet(out / "tables" / "toy.seed0.parquet")
    test_row = copy.loc[copy["split"] == "test", "sequence"].iloc[0]
    rc = test_row[::-1].translate(str.maketrans("ACGT", "TGCA"))
    planted = tmp_path / "planted.fa"
    planted.write_text(f">copy\nGGGG{test_row[:30]}CCCC\n>rc\nAAAA{rc}TTTT\n>other\n{'ACGTTGCA' * 8}\n")
    argv = ["--smoke", "--gue-root", str(tmp_path / "gue"), "--out", str(out), "--models", "transformer_mlm",
            "--pretrain-extra", str(janggu), str(planted)]
    assert script.main(argv) == 0
    printed = capsys.readouterr().out
    pool = pd.read_parquet(out / "tables" / "toy.seed0.pool.parquet")["sequence"].tolist()
    train_rows = copy.loc[copy["split"] == "train", "sequence"].tolist()
    assert pool[: len(train_rows)] == train_rows and "ACGTTGCA" * 8 in pool
    assert not any(test_row[:30] in s or rc in s for s in pool[len(train_rows):])
    janggu_records = sum(1 for line in janggu.read_text().splitlines() if line.startswith(">"))
    dropped = janggu_records + 3 - (len(pool) - len(train_rows))
    assert dropped >= 2
    assert (f"pretraining pool of toy seed 0: {len(train_rows):,} training rows + {janggu_records + 3 - dropped:,} of "
            f"{janggu_records + 3:,} extra sequences ({dropped:,} share a 24-mer with a val or test row)") in printed
    folders = [p.name for p in (out / "runs" / "toy" / "seed0").iterdir() if p.name.startswith("pretrain")]
    assert len(folders) == 1 and folders[0].startswith("pretrain+pool-")
    inputs = json.loads((out / "runs" / "toy" / "seed0" / folders[0] / "run.json").read_text())["inputs"]
    assert [i["rows_used"] for i in inputs] == [len(pool)]
