"""TrainConfig: typed model options checked before any data is opened; flags over YAML."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from dnabench.models import EncoderConfig, TransformerConfig
from dnabench.training.config import TrainConfig, load_config, save_config


def test_model_options_become_a_typed_config():
    cfg = TrainConfig(model="transformer", model_options={"positions": "relative", "hidden_size": 64, "num_heads": 4, "tokenizer": "kmer"})
    assert isinstance(cfg.model_config, TransformerConfig)
    assert (cfg.model_config.encoder.positions, cfg.model_config.encoder.hidden_size, cfg.model_config.frontend.k) == ("relative", 64, 5)
    nested = TrainConfig(model_options={"encoder": {"num_layers": 2}})
    assert nested.model_config.encoder == EncoderConfig(num_layers=2)
    sized = cfg.resolve_model_config(num_outputs=7)
    assert sized.head.num_outputs == 7 and cfg.model_config.head.num_outputs == 1
    assert TrainConfig(model_options={"num_outputs": 3}).resolve_model_config(num_outputs=7).head.num_outputs == 3  # the user's wins


@pytest.mark.parametrize(
    ("model", "options", "message"),
    [
        ("transformer", {"positions": "rotry"}, "positions must be one of 'rotary', 'relative', 'absolute'; got 'rotry'"),
        ("transformer", {"tokenizr": "kmer"}, "unknown option(s) 'tokenizr'"),
        ("cnn_fc", {"hidden_size": 8}, "unknown option(s) 'hidden_size' for CNNFCConfig"),
        ("transformer", {"hidden_size": 100, "num_heads": 8}, "must be divisible by num_heads"),
        ("lstm", {}, "unknown model 'lstm'"),
    ],
)
def test_bad_model_options_fail_at_once(model, options, message):
    with pytest.raises(ValueError) as err:
        TrainConfig(model=model, model_options=options)
    assert message in str(err.value)


def test_yaml_flags_and_saved_config(tmp_path):
    (tmp_path / "c.yaml").write_text("model: transformer\nmodel_options: {hidden_size: 64, num_heads: 4}\nlr: 0.001\n")
    cfg = load_config(tmp_path / "c.yaml", {"lr": None, "batch_size": 8}, model_options={"positions": "absolute"})
    assert cfg.lr == 0.001 and cfg.batch_size == 8
    assert cfg.model_options == {"hidden_size": 64, "num_heads": 4, "positions": "absolute"}
    save_config(cfg, tmp_path / "saved.yaml")
    again = load_config(tmp_path / "saved.yaml", {})
    assert again.model_config == cfg.model_config and "model_config" not in (tmp_path / "saved.yaml").read_text()


def test_cli_reports_a_bad_model_option_before_reading_data(tmp_path):
    from dnabench.cli import app

    table = tmp_path / "unreadable.csv"
    table.write_text("not a table\x00\x00")  # exists, so only reading it would fail
    res = CliRunner().invoke(app, ["train", "--data", str(table), "--out", str(tmp_path / "r"), "--positions", "rotry"])
    assert res.exit_code == 2 and "rotry" in res.output and "unreadable.csv" not in res.output
    res = CliRunner().invoke(app, ["train", "--data", str(table), "--out", str(tmp_path / "r"), "--model", "cnn_fc", "--layers", "2"])
    assert res.exit_code == 2 and "num_layers" in res.output
    help_text = " ".join(CliRunner().invoke(app, ["train", "--help"], terminal_width=200).output.replace("│", " ").split())
    for flag in ("--tokenizer", "--positions", "--hidden-size", "--layers", "--heads", "--dropout", "--pooling", "--k", "--weight-decay", "--patience"):
        assert flag in help_text, flag
    assert "onehot | kmer | patch | bpe" in help_text and "rotary | relative | absolute" in help_text and "cls | mean" in help_text


def test_yaml_numbers_as_pyyaml_reads_them(tmp_path):
    """PyYAML reads `lr: 1e-4` as text and `precision: 32`, `devices: 2` as ints: all are taken."""
    (tmp_path / "c.yaml").write_text("lr: 1e-4\nprecision: 32\ndevices: [0, 1]\nmax_epochs: '3'\nprogress: false\n")
    cfg = load_config(tmp_path / "c.yaml", {})
    assert (cfg.lr, cfg.precision, cfg.devices, cfg.max_epochs, cfg.progress) == (1e-4, "32", "0,1", 3, False)
    for bad, message in (({"lr": "fast"}, "lr must be a number"), ({"max_epochs": 2.5}, "max_epochs must be a whole number"),
                         ({"progress": "maybe"}, "progress must be true or false"), ({"max_steps": 0}, "max_steps must be -1"),
                         ({"val_check_interval": 2}, "val_check_interval must be in (0, 1]")):
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("]", r"\]")):
            TrainConfig.from_dict(bad)
    (tmp_path / "bad.yaml").write_text("lr: [\n")
    with pytest.raises(ValueError, match="bad.yaml: not valid YAML"):
        load_config(tmp_path / "bad.yaml", {})
