"""The shared run plumbing: device and precision settings, AdamW groups and its schedule."""

from __future__ import annotations

import torch

from dnabench.training.engine import (
    LOG_EVERY_STEPS, adamw_with_schedule, bar_refresh_steps, clip_gradients, device_setting, is_first_process, log_interval,
    precision_setting, seed_step,
)


def test_device_and_precision_settings(monkeypatch):
    assert [device_setting(v, "cpu") for v in ("auto", "-1", "2", "0,1")] == ["auto", -1, 2, [0, 1]]
    assert precision_setting("32", "cpu") == "32-true" and precision_setting("bf16-mixed", "gpu") == "bf16-mixed"
    assert precision_setting("auto", "cpu") == "32-true"
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert not is_first_process()
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert is_first_process()


def test_adamw_groups_and_schedule():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    config = adamw_with_schedule(model, torch.device("cpu"), lr=1.0, weight_decay=0.1, total=10, warmup=4)
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    decay, no_decay = optimizer.param_groups
    assert len(decay["params"]) == 1 and decay["weight_decay"] == 0.1  # the Linear weight only
    assert len(no_decay["params"]) == 3 and no_decay["weight_decay"] == 0.0  # bias, norm weight and bias
    rates = []
    for _ in range(10):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[:4] == [0.25, 0.5, 0.75, 1.0] and rates[4] == 1.0 and rates[-1] == 1 / 6


def test_clip_gradients():
    model = torch.nn.Linear(3, 1)
    for p in model.parameters():
        p.grad = torch.full_like(p, 10.0)
    clip_gradients(model, 1.0)
    assert abs(float(torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in model.parameters()]))) - 1.0) < 1e-5


def test_devices_the_machine_lacks_are_refused_before_lightning_starts(monkeypatch):
    import pytest

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert device_setting("2", "gpu") == 2 and device_setting("0,1", "auto") == [0, 1]
    with pytest.raises(ValueError, match="4 GPUs asked for, this machine has 2"):
        device_setting("4", "auto")
    with pytest.raises(ValueError, match="GPU 3 does not exist; this machine has 2"):
        device_setting("0,3", "gpu")
    with pytest.raises(ValueError, match="devices must be auto"):
        device_setting("two")
    assert device_setting("8", "cpu") == 8  # CPU processes: as many as asked
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(ValueError, match="no CUDA GPU"):
        device_setting("1", "gpu")


def test_a_cut_checkpoint_is_named(tmp_path):
    import pytest

    from dnabench.training.engine import check_checkpoint

    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(3)}}, path)
    assert check_checkpoint(path) == path
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="last.ckpt: damaged or truncated checkpoint"):
        check_checkpoint(path)


def test_global_mean_gives_ddp_the_gradient_of_one_process():
    """Two ranks with different numbers of observed targets: the average of their gradients (what
    DDP applies) is the gradient of the mean over all targets, as one process would compute it."""
    from dnabench.training.engine import global_mean

    torch.manual_seed(0)
    weight = torch.randn(3, requires_grad=True)
    inputs = [torch.randn(5, 3), torch.randn(2, 3)]  # rank 0 holds 5 targets, rank 1 holds 2
    counts = [torch.tensor(5), torch.tensor(2)]

    def total(x: torch.Tensor) -> torch.Tensor:
        return (x @ weight).square().sum()

    grads = []
    for x, count in zip(inputs, counts):
        loss = global_mean(total(x), count, world_size=2, reduce=lambda c: c.new_tensor(float(sum(counts))))
        grads.append(torch.autograd.grad(loss, weight)[0])
    want = torch.autograd.grad(total(torch.cat(inputs)) / 7, weight)[0]
    torch.testing.assert_close((grads[0] + grads[1]) / 2, want)
    per_rank_mean = [torch.autograd.grad(total(x) / len(x), weight)[0] for x in inputs]  # what a plain mean would give
    assert not torch.allclose((per_rank_mean[0] + per_rank_mean[1]) / 2, want)
    assert global_mean(torch.tensor(6.0), torch.tensor(3)) == 2.0  # one process: the plain mean


def test_log_interval_and_bar_refresh(monkeypatch):
    assert log_interval(10_000) == LOG_EVERY_STEPS and log_interval(13) == 13 and log_interval(0) == 1
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert bar_refresh_steps("auto", 10_000) == LOG_EVERY_STEPS  # each refresh reads the loss off the GPU
    assert bar_refresh_steps("cpu", 10_000) == 1
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bar_refresh_steps("auto", 10_000) == 1


def test_seed_step_gives_the_dropout_of_torch_manual_seed():
    x = torch.ones(1000)
    torch.manual_seed(1234)
    expected = torch.nn.functional.dropout(x, 0.5)
    torch.manual_seed(99)
    seed_step(1234, torch.device("cpu"))
    assert torch.equal(torch.nn.functional.dropout(x, 0.5), expected)
