"""A resume refuses data that changed under the run, and works from any folder."""

from __future__ import annotations

import contextlib
import io
import json
import os

import numpy as np
import pandas as pd
import pytest

from dnabench.training.config import TrainConfig
from dnabench.training.provenance import absolute_paths, data_change, data_fingerprint
from dnabench.training.run import resume_run, train

from test_training import SMALL_CNN, synthetic_table


def _store(folder):
    """A folder with a card recording one file's size and sha256, as stores do."""
    from dnabench.io.files import sha256_file

    folder.mkdir()
    np.save(folder / "labels.npy", np.arange(100, dtype=np.float32))
    card = {"files": {"labels.npy": {"bytes": (folder / "labels.npy").stat().st_size, "sha256": sha256_file(folder / "labels.npy")}}}
    (folder / "dataset.json").write_text(json.dumps(card))
    return folder


def test_a_table_edited_is_a_change(tmp_path):
    table = synthetic_table(tmp_path / "t.csv", rows=20)
    recorded = data_fingerprint(table)
    assert data_change(recorded, table) is None
    frame = pd.read_csv(table)
    frame["label"] = 1 - frame["label"]
    frame.to_csv(table, index=False)
    assert "contents changed" in data_change(recorded, table)
    table.unlink()
    assert "no longer exists" in data_change(recorded, table)


def test_a_store_file_edited_in_place_is_caught_though_the_card_is_not(tmp_path):
    store = _store(tmp_path / "store")
    recorded = data_fingerprint(store)
    assert recorded["kind"] == "store" and data_change(recorded, store) is None
    labels = np.load(store / "labels.npy")
    labels[3] = 10.0  # same size, new bytes
    np.save(store / "labels.npy", labels)
    assert "labels.npy: changed since the run started" in data_change(recorded, store)


def test_a_store_touched_but_unchanged_is_the_same(tmp_path):
    store = _store(tmp_path / "store")
    recorded = data_fingerprint(store)
    os.utime(store / "labels.npy", ns=(1, 1))
    assert data_change(recorded, store) is None


def test_absolute_paths_only_for_what_exists(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.csv").write_text("sequence,label\nACGT,1\n")
    config = TrainConfig(data="t.csv", genome="no-such-cache")
    absolute_paths(config)
    assert config.data == str(tmp_path / "t.csv") and config.genome == "no-such-cache"


def test_resume_from_another_folder_and_refuse_flipped_labels(tmp_path, monkeypatch):
    start, elsewhere = tmp_path / "a", tmp_path / "b"
    start.mkdir(), elsewhere.mkdir()
    synthetic_table(start / "ctl.csv", rows=128)
    monkeypatch.chdir(start)
    config = TrainConfig(data="ctl.csv", model="cnn_fc", model_options=SMALL_CNN, out=str(tmp_path / "run"), max_epochs=1,
                         batch_size=32, progress=False)
    with contextlib.redirect_stdout(io.StringIO()):
        run = train(config)
    assert json.loads((run / "run.json").read_text())["data_fingerprint"]["kind"] == "table"
    monkeypatch.chdir(elsewhere)
    with contextlib.redirect_stdout(io.StringIO()):
        resume_run(run, {"max_epochs": 2})  # the table is found by its absolute path
    frame = pd.read_csv(start / "ctl.csv")
    frame["label"] = 1 - frame["label"]
    frame.to_csv(start / "ctl.csv", index=False)
    with pytest.raises(ValueError, match="data changed since this run started.*--allow-changed-data"):
        resume_run(run, {"max_epochs": 3})
    with contextlib.redirect_stdout(io.StringIO()):
        resume_run(run, {"max_epochs": 3}, allow_changed_data=True)
    assert json.loads((run / "metrics.json").read_text())["epochs"] >= 2
    with contextlib.redirect_stdout(io.StringIO()):
        resume_run(run, {"max_epochs": 4})  # the new data is now the run's data


def test_git_commit_is_none_outside_a_checkout(monkeypatch, tmp_path):
    """A package installed inside someone else's repository must not report that repository's commit."""
    from dnabench.training import provenance as run_module

    monkeypatch.setattr(run_module, "_git", lambda *args: None)
    assert run_module.git_commit() is None and run_module.git_dirty() is None
    answers = {("rev-parse", "--show-toplevel"): str(tmp_path), ("rev-parse", "HEAD"): "f" * 40}
    monkeypatch.setattr(run_module, "_git", lambda *args: answers.get(args))  # ls-files: not tracked
    assert run_module.git_commit() is None
