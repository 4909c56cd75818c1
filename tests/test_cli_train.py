"""`dnabench train / evaluate / predict` for a newcomer: every option explained with its default, mistakes
reported before Lightning loads, no empty folder left by a failed run, honest messages elsewhere."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import typer
from typer.testing import CliRunner

from dnabench.cli import app
from dnabench.training.config import TrainConfig
from dnabench.training.run import train

from test_training import SMALL_CNN, synthetic_table

runner = CliRunner()


@pytest.mark.parametrize("command", ["train", "evaluate", "predict"])
def test_every_option_has_help_and_a_shown_default(command):
    click_command = typer.main.get_command(app).commands[command]
    for param in click_command.params:
        if param.param_type_name != "option" or param.name == "help":
            continue
        assert param.help, f"{command} --{param.name} has no help"
        shown = param.show_default if isinstance(param.show_default, str) else (param.default is not None and param.show_default is not False)
        assert shown or param.required, f"{command} --{param.name} shows no default"
    text = " ".join(runner.invoke(app, [command, "--help"], terminal_width=240).output.replace("│", " ").split())
    assert "[default:" in text


def test_help_lists_the_newcomer_flags():
    text = " ".join(runner.invoke(app, ["train", "--help"], terminal_width=240).output.replace("│", " ").split())
    for flag in ("--max-epochs", "--max-steps", "--batch-size", "--lr", "--seed", "--progress", "--patience", "--weight-decay",
                 "--warmup-fraction", "--grad-clip", "--wandb-project", "--verbose", "--val-check-interval"):
        assert flag in text, flag
    assert "[default: (0.0001)]" in text and "[default: (64)]" in text and "[default: (10)]" in text


#: the three commands on their own (the whole `dnabench` app also builds every other command group);
#: each command line is one argument, words separated by "|"
_FAST = textwrap.dedent(
    """
    import sys
    import typer
    from dnabench.cli.train import register_training
    app = typer.Typer()
    register_training(app)
    for line in sys.argv[1:]:
        try:
            app(line.split("|"), prog_name="dnabench")
        except SystemExit as exit:
            print("exit", exit.code, "lightning" in sys.modules, flush=True)
    """
)

_MISTAKES = [
    ("train|--data|{tmp}/absent.csv|--out|{tmp}/run", "absent.csv: no such file or folder (--data)"),
    ("train|--config|{tmp}/absent.yaml|--out|{tmp}/run", "absent.yaml: no such file (--config)"),
    ("train|--resume|{tmp}", "not a run folder (no config.yaml) to resume"),
    ("evaluate|{tmp}/norun", "norun: no such run folder"),
    ("predict|{tmp}|{tmp}/absent.fa|--out|{tmp}/p.tsv", "not a run folder (no config.yaml)"),
]


def test_mistakes_are_reported_before_lightning_loads(tmp_path):
    lines = [line.format(tmp=tmp_path) for line, _ in _MISTAKES]
    proc = subprocess.run([sys.executable, "-c", _FAST, *lines], capture_output=True, text=True, timeout=120)
    out = proc.stdout.splitlines()
    assert len(out) == 2 * len(_MISTAKES), proc.stdout + proc.stderr
    for (line, message), error, status in zip(_MISTAKES, out[0::2], out[1::2]):
        assert message in error, (line, error)
        assert status == "exit 2 False", (line, status)  # exit code 2, and Lightning never imported
    assert not (tmp_path / "run").exists()


def test_inference_does_not_import_lightning():
    code = "import sys, dnabench.training.inference; print('lightning' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout.strip() == "False"


def test_a_yaml_typo_is_one_line(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("lr: 1e-4\nmax_epochs: [\n")
    result = runner.invoke(app, ["train", "--config", str(cfg), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "not valid YAML" in result.output
    cfg.write_text(f"data: {tmp_path / 'absent.csv'}\nlr: 1e-4\ndevices: 1\n")  # PyYAML reads 1e-4 as text
    result = runner.invoke(app, ["train", "--config", str(cfg), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "absent.csv: no such file" in result.output


def test_a_failed_run_removes_only_the_empty_folder_it_made(tmp_path, monkeypatch):
    from dnabench.training import run as run_module

    table = synthetic_table(tmp_path / "t.csv", rows=64)
    config = TrainConfig(data=str(table), model="cnn_fc", model_options=SMALL_CNN, out=str(tmp_path / "made"), progress=False)

    def broken_trainer(*args, **kwargs):
        raise RuntimeError("no trainer")

    monkeypatch.setattr(run_module.L, "Trainer", broken_trainer)
    with pytest.raises(RuntimeError, match="no trainer"):
        train(config)
    assert not (tmp_path / "made").exists()
    (tmp_path / "mine").mkdir()  # a folder the user made is kept, empty or not
    config.out = str(tmp_path / "mine")
    with pytest.raises(RuntimeError):
        train(config)
    assert (tmp_path / "mine").is_dir()
    bad = tmp_path / "bad.csv"
    bad.write_text("sequence,name\nACGT,a\n")
    result = runner.invoke(app, ["train", "--data", str(bad), "--out", str(tmp_path / "bad_run")])
    assert result.exit_code == 2 and "no label column" in result.output and not (tmp_path / "bad_run").exists()


def test_store_info_on_a_table_says_what_to_do(tmp_path):
    table = synthetic_table(tmp_path / "t.csv", rows=16)
    result = runner.invoke(app, ["store", "info", str(table)])
    assert result.exit_code == 2 and "a file, not a dataset store folder" in result.output
    assert f"dnabench train --data {table}" in result.output


def test_demo_says_its_folder_is_temporary(tmp_path):
    result = runner.invoke(app, ["demo", "--tour"])
    text = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert "temporary folder, removed on exit" in text and "dnabench-demo-" not in text
    kept = runner.invoke(app, ["demo", "--tour", "--out", str(tmp_path / "d")])
    assert kept.exit_code == 0 and str(tmp_path / "d") in "".join(kept.output.split())


def test_kmer_lr_trains_evaluates_and_predicts_through_the_cli_on_a_gue_table(tmp_path, shared_data):
    """GUE prom_core_all (5,920 70 bp core promoters): the k-mer baseline is clearly better than the
    same fit on shuffled labels, and evaluate / predict / --resume work on its run."""
    pytest.importorskip("skops", reason="skops (a dnabench dependency: pip install -e .) is not installed")
    import json

    import numpy as np
    import pandas as pd

    from dnabench.data.tables import encode_sequences
    from dnabench.models.estimators import load_estimator

    table = shared_data / "PromVary" / "GUE_prom_core_all" / "dev.csv"
    if not table.is_file():
        pytest.skip(f"{table} is not in the shared data")
    shuffled = tmp_path / "shuffled.csv"
    frame = pd.read_csv(table)
    frame.assign(label=np.random.default_rng(0).permutation(frame["label"].to_numpy())).to_csv(shuffled, index=False)
    aurocs = {}
    for name, data in (("real", table), ("shuffled", shuffled)):
        result = runner.invoke(app, ["train", "--data", str(data), "--model", "kmer_lr", "--out", str(tmp_path / name)], terminal_width=200)
        assert result.exit_code == 0, result.output
        aurocs[name] = json.loads((tmp_path / name / "metrics.json").read_text())["test"]["auroc"]
    assert aurocs["real"] > 0.75 and aurocs["shuffled"] < 0.6 and aurocs["real"] - aurocs["shuffled"] > 0.2, aurocs
    run = tmp_path / "real"
    result = runner.invoke(app, ["evaluate", str(run), "--split", "val"], terminal_width=200)
    assert result.exit_code == 0 and (run / "eval_val.json").is_file(), result.output
    assert json.loads((run / "eval_val.json").read_text())["auroc"] == pytest.approx(json.loads((run / "metrics.json").read_text())["val"]["auroc"])
    head = tmp_path / "head.csv"
    frame.head(50).drop(columns=["label"]).to_csv(head, index=False)
    result = runner.invoke(app, ["predict", str(run), str(head), "--out", str(tmp_path / "p.csv")], terminal_width=200)
    said = " ".join(result.output.split())
    assert result.exit_code == 0 and "50 predictions written" in said and "call_* columns at threshold" in said, result.output
    predicted = pd.read_csv(tmp_path / "p.csv")
    codes, _ = encode_sequences(frame["sequence"].head(50))
    np.testing.assert_allclose(predicted["pred_label"], load_estimator(run / "best").predict(codes)[:, 0], rtol=1e-6)
    renamed = tmp_path / "renamed.csv"  # an outside table with its label under another name
    frame.head(400).rename(columns={"label": "y_true"}).to_csv(renamed, index=False)
    frame.head(400).to_csv(tmp_path / "same.csv", index=False)
    for data, extra in ((renamed, ["--label", "y_true"]), (tmp_path / "same.csv", [])):
        result = runner.invoke(app, ["evaluate", str(run), "--data", str(data), "--out", str(tmp_path / f"{data.stem}.json"), *extra])
        assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "renamed.json").read_text())["auroc"] == json.loads((tmp_path / "same.json").read_text())["auroc"]
    result = runner.invoke(app, ["train", "--resume", str(run)], terminal_width=200)
    assert result.exit_code == 0 and "this run is finished" in " ".join(result.output.split()), result.output


def test_label_and_sequence_columns_by_name(tmp_path):
    """--label picks the label among numeric columns, --sequence-column names the sequences, and the
    run's first line says which columns became labels and how the rows were split."""
    import json

    import numpy as np
    import pandas as pd

    frame = pd.read_csv(synthetic_table(tmp_path / "t.csv", rows=96))
    frame = frame.rename(columns={"sequence": "dna", "label": "promoter"})
    frame["gc"] = np.linspace(0, 1, len(frame))
    frame.to_csv(tmp_path / "named.csv", index=False)
    result = runner.invoke(app, ["train", "--data", str(tmp_path / "named.csv"), "--sequence-column", "dna", "--label", "promoter",
                                 "--model", "cnn_fc", "--out", str(tmp_path / "run2"), "--max-epochs", "1", "--batch-size", "32", "--no-progress"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "labels promoter (binary), split random 80/10/10 by seed 0" in text
    assert json.loads((tmp_path / "run2" / "run.json").read_text())["task"]["label_names"] == ["promoter"]
