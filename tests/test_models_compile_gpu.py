"""torch.compile (CPU, opt-in) and GPU-only checks: FlexAttention bias vs SDPA, bf16 autocast."""

from __future__ import annotations

import os
import shutil

import pytest
import torch

from dnabench.models import attention, build_model

TINY = dict(hidden_size=32, num_layers=2, num_heads=4, ffn_size=48, max_positions=1024)
FLEX = dict(hidden_size=64, num_layers=2, num_heads=4, ffn_size=96, max_positions=1024)  # head size 16: flex's minimum

gpu = pytest.mark.gpu
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
needs_compiler = pytest.mark.skipif(
    shutil.which(os.environ.get("CXX", "g++")) is None or os.environ.get("DNABENCH_SKIP_COMPILE") == "1",
    reason="torch.compile on CPU needs a C++ compiler (or DNABENCH_SKIP_COMPILE=1 was set)",
)


@needs_compiler
def test_compile_blocks_on_cpu_matches_eager():
    """Opt-in compile on the CPU (forward only: the GPU test below compiles a training step).

    Set DNABENCH_SKIP_COMPILE=1 to skip it where the CPU inductor backend is unavailable.
    """
    torch.manual_seed(0)
    options = dict(TINY, num_layers=1, tokenizer="patch", positions="rotary", num_outputs=3)
    eager = build_model("transformer", **options).eval()
    compiled = build_model("transformer", compile=True, **options).eval()
    compiled.load_state_dict(eager.state_dict())
    assert compiled.config.compile
    ids = eager.encode(torch.randint(0, 5, (2, 200), dtype=torch.uint8)).ids
    with torch.no_grad():
        torch.testing.assert_close(compiled(ids), eager(ids), rtol=1e-4, atol=1e-5)
    # Compiling keeps parameter names, so checkpoints stay interchangeable.
    assert compiled.state_dict().keys() == eager.state_dict().keys()


def _padded_batch(model, device, length=600):
    codes = torch.randint(0, 5, (4, length), dtype=torch.uint8, device=device)
    batch = model.encode(codes)
    mask = batch.attention_mask.clone()
    mask[1, -37:] = False  # pretend row 1 is padded
    return batch.ids, mask


@gpu
@needs_cuda
@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("layout", ["matrix", "offset"])
def test_flex_relative_bias_matches_sdpa(padded, layout, monkeypatch):
    monkeypatch.setattr(attention, "FLEX_BIAS_LAYOUT", layout)
    torch.manual_seed(0)
    model = build_model("transformer", tokenizer="patch", positions="relative", num_outputs=3, dropout=0.0, **FLEX)
    model = model.cuda().eval()
    assert model.encoder.use_flex(torch.zeros(1, device="cuda"))
    torch.nn.init.normal_(model.encoder.relative.bias.weight, std=0.5)
    ids, mask = _padded_batch(model, "cuda")
    if not padded:
        mask = None
    results = {}
    for impl in ("flex", "sdpa"):
        model.config.encoder.relative_impl = impl
        model.zero_grad()
        out = model(ids, mask)
        out.float().pow(2).sum().backward()
        results[impl] = (out.detach(), model.encoder.relative.bias.weight.grad.clone())
        with torch.autocast("cuda", dtype=torch.bfloat16):
            results[impl + "_bf16"] = model(ids, mask).float().detach()
    torch.testing.assert_close(results["flex"][0], results["sdpa"][0], rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(results["flex"][1], results["sdpa"][1], rtol=1e-2, atol=1e-3)
    torch.testing.assert_close(results["flex_bf16"], results["sdpa_bf16"], rtol=3e-2, atol=3e-2)
    torch.testing.assert_close(results["flex_bf16"], results["flex"][0], rtol=5e-2, atol=5e-2)


@gpu
@needs_cuda
@pytest.mark.parametrize(
    "name, options",
    [
        ("transformer", dict(tokenizer="patch", positions="rotary")),
        ("transformer", dict(tokenizer="onehot", positions="relative")),
        ("transformer", dict(tokenizer="kmer", positions="relative", hidden_size=64)),
        ("transformer", dict(tokenizer="kmer", positions="absolute")),
        ("cnn_fc", dict(seq_len=600, channels=(16, 24), fc_size=32)),
        ("cnn_lstm", dict(seq_len=600, channels=(16, 24), lstm_hidden=8)),
    ],
)
def test_bf16_autocast_forward_backward(name, options):
    torch.manual_seed(0)
    if name == "transformer":
        options = {**TINY, **options}
    model = build_model(name, num_outputs=3, **options).cuda()
    codes = torch.randint(0, 5, (4, 600), dtype=torch.uint8, device="cuda")
    batch = model.encode(codes)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        logits = model(batch.ids)
    assert logits.dtype == torch.bfloat16 and torch.isfinite(logits).all()
    logits.float().sum().backward()
    eager = model.eval()(batch.ids).float()
    torch.testing.assert_close(model.predict_codes(codes, autocast=False), model.head.activate(eager))
    bf16 = model.predict_codes(codes)  # bf16 autocast by default on CUDA
    torch.testing.assert_close(bf16, model.head.activate(eager), rtol=5e-2, atol=5e-2)


@gpu
@needs_cuda
def test_compiled_flex_training_step():
    torch.manual_seed(0)
    model = build_model("transformer", tokenizer="patch", positions="relative", num_outputs=3, compile=True, **FLEX).cuda()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ids, mask = _padded_batch(model, "cuda")
    for m in (None, mask):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(ids, m).float().pow(2).mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
        assert torch.isfinite(loss)


@gpu
@needs_cuda
@pytest.mark.parametrize("padded", [False, True])
def test_patch_frontend_gpu_convolution_matches_cpu(padded, monkeypatch):
    """On a GPU the k-patch convolution runs as a channels-last 2-D convolution: same numbers."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    torch.manual_seed(0)
    model = build_model("transformer", tokenizer="patch", positions="rotary", num_outputs=3, **TINY)
    frontend = model.frontend
    ids, mask = _padded_batch(model, "cpu", length=300)
    if not padded:
        mask = None
    out_cpu, _ = frontend(ids, mask)
    out_cpu.square().sum().backward()
    grads_cpu = {name: p.grad.clone() for name, p in frontend.named_parameters()}
    frontend.zero_grad()
    frontend.cuda()
    out_gpu, _ = frontend(ids.cuda(), None if mask is None else mask.cuda())
    out_gpu.square().sum().backward()
    torch.testing.assert_close(out_gpu.cpu(), out_cpu, rtol=1e-3, atol=1e-4)
    for name, p in frontend.named_parameters():
        torch.testing.assert_close(p.grad.cpu(), grads_cpu[name], rtol=1e-3, atol=1e-3, msg=lambda m: f"{name}: {m}")


@gpu
@needs_cuda
def test_bad_codes_from_the_host_are_a_clear_error_on_a_gpu_model():
    """Host codes are checked before the copy: on the device a bad code would only be a device-side assert."""
    import numpy as np

    model = build_model("transformer", tokenizer="patch", positions="rotary", **TINY).cuda().eval()
    codes = np.zeros((2, 64), dtype=np.uint8)
    codes[1, 5] = 9
    with pytest.raises(ValueError, match="invalid nucleotide code 9"):
        model.predict_codes(codes)
