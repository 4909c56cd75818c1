"""The shared run plumbing: device and precision settings, AdamW groups and its schedule."""

from __future__ import annotations

import torch

from dnabench.training.engine import adamw_with_schedule, clip_gradients, device_setting, is_first_process, precision_setting


def test_device_and_precision_settings(monkeypatch):
    assert [device_setting(v) for v in ("auto", "-1", "2", "0,1")] == ["auto", -1, 2, [0, 1]]
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
