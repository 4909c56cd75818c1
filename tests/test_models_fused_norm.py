"""The fused residual + dropout + LayerNorm boundary and the fused gated activation against
plain PyTorch.

The Triton kernels run on a CUDA GPU, or on the CPU under Triton's interpreter
(``TRITON_INTERPRET=1`` with Triton installed); without either these tests skip. The plain
path is what CPU models use, and is covered by every CPU model test.
"""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

from dnabench.models import build_model
from dnabench.models.kernels import fused_norm

if torch.cuda.is_available():
    DEVICE = "cuda"
elif os.environ.get("TRITON_INTERPRET") == "1" and fused_norm.triton_available():
    DEVICE = "cpu"
else:
    DEVICE = None

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(DEVICE is None, reason="needs a CUDA GPU (or TRITON_INTERPRET=1 with Triton installed)"),
]

FUSED = torch.ops.dnabench.add_dropout_norm


@pytest.fixture(autouse=True)
def _kernels_on_interpreter(monkeypatch):
    """Under the interpreter, send CPU tensors to the kernels too."""
    if DEVICE == "cpu":
        from dnabench.models.kernels import fused_glu

        monkeypatch.setattr(fused_norm, "fused_applies", lambda branch, norm: fused_norm.ENABLED)
        monkeypatch.setattr(fused_glu, "fused_applies", lambda x: fused_glu.ENABLED)


def _norm(hidden: int) -> torch.nn.LayerNorm:
    norm = torch.nn.LayerNorm(hidden).to(DEVICE)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-0.5, 0.5)
    return norm


def _keep_mask(shape, dtype, norm, p, seed):
    """The mask the fused op draws after torch.manual_seed(seed): residual 0 + dropout(1) = keep / (1 - p)."""
    torch.manual_seed(seed)
    zeros = torch.zeros(shape, dtype=dtype, device=DEVICE)
    new = FUSED(zeros, torch.ones_like(zeros), None, norm.weight, norm.bias, p, 1e-5, dtype, dtype)[0]
    return new.float() != 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("p", [0.0, 0.3])
@pytest.mark.parametrize("hidden, with_bias", [(48, False), (512, False), (512, True)])
def test_fused_matches_reference_forward_and_backward(dtype, p, hidden, with_bias):
    shape = (3, 37, hidden)  # 111 rows: not a multiple of any row block
    norm = _norm(hidden)
    keep = _keep_mask(shape, dtype, norm, p, seed=5)
    gen = torch.Generator(device="cpu").manual_seed(1)
    res = torch.randn(shape, generator=gen).to(DEVICE, dtype).requires_grad_()
    branch = torch.randn(shape, generator=gen).to(DEVICE, dtype).requires_grad_()
    bias = torch.randn(hidden, generator=gen).to(DEVICE).requires_grad_() if with_bias else None
    torch.manual_seed(5)
    new, out, *_ = FUSED(res, branch, bias, norm.weight, norm.bias, p, 1e-5, dtype, dtype)

    ref_res = res.detach().float().requires_grad_()
    ref_branch = branch.detach().float().requires_grad_()
    ref_weight = norm.weight.detach().clone().requires_grad_()
    ref_norm_bias = norm.bias.detach().clone().requires_grad_()
    ref_bias = bias.detach().clone().requires_grad_() if with_bias else None
    ref_new = ref_res + (ref_branch if bias is None else ref_branch + ref_bias) * keep / (1 - p)
    ref_out = F.layer_norm(ref_new, (hidden,), ref_weight, ref_norm_bias, 1e-5)
    assert new.dtype == out.dtype == dtype
    loose = dtype == torch.bfloat16
    tol = dict(rtol=2e-2, atol=3e-2) if loose else dict(rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(new.float(), ref_new, **tol)
    torch.testing.assert_close(out.float(), ref_out, **tol)

    grad_new = torch.randn(shape, generator=gen).to(DEVICE)
    grad_out = torch.randn(shape, generator=gen).to(DEVICE)
    (new.float() * grad_new + out.float() * grad_out).sum().backward()
    (ref_new * grad_new.to(dtype).float() + ref_out * grad_out.to(dtype).float()).sum().backward()
    torch.testing.assert_close(res.grad.float(), ref_res.grad, **tol)
    torch.testing.assert_close(branch.grad.float(), ref_branch.grad, **tol)
    sums = dict(rtol=3e-2, atol=1e-1) if loose else dict(rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(norm.weight.grad, ref_weight.grad, **sums)
    torch.testing.assert_close(norm.bias.grad, ref_norm_bias.grad, **sums)
    if with_bias:
        torch.testing.assert_close(bias.grad, ref_bias.grad, **sums)
    # Dropped elements pass no gradient to the branch: the backward regenerated the forward's mask.
    assert bool((branch.grad[~keep] == 0).all())


def test_dropout_rate_and_fresh_masks():
    norm = _norm(512)
    shape = (64, 100, 512)
    first = _keep_mask(shape, torch.bfloat16, norm, 0.1, seed=0)
    again = _keep_mask(shape, torch.bfloat16, norm, 0.1, seed=0)
    other = _keep_mask(shape, torch.bfloat16, norm, 0.1, seed=1)
    rate = 1 - first.float().mean().item()
    assert abs(rate - 0.1) < 0.002, rate  # 3.3 M draws: the standard error is 1.7e-4
    assert torch.equal(first, again)
    assert 0.15 < (first != other).float().mean().item() < 0.21  # independent masks differ in 2p(1-p) = 18 %
    # One Philox call serves four neighbouring columns: its four draws are independent, too.
    for a, b in ((0, 1), (0, 2), (1, 3), (3, 4)):  # within a group and across two groups
        both = (~first[..., a : a + 508 : 4] & ~first[..., b : b + 508 : 4]).float().mean().item()
        assert abs(both - 0.01) < 0.001, (a, b, both)  # p^2; the standard error is 8e-5


def test_wide_offsets_draw_a_consistent_mask(monkeypatch):
    """Past 2**31 elements the Philox counters are 64-bit; forced on for a small tensor here."""
    from dnabench.models.kernels import triton_norm

    monkeypatch.setattr(triton_norm, "WIDE_OFFSETS_FROM", 0)
    norm = _norm(64)
    shape = (8, 50, 64)
    keep = _keep_mask(shape, torch.float32, norm, 0.25, seed=3)
    assert abs((1 - keep.float().mean().item()) - 0.25) < 0.03
    branch = torch.randn(shape, device=DEVICE, requires_grad=True)
    torch.manual_seed(3)
    new, out, *_ = FUSED(None, branch, None, norm.weight, norm.bias, 0.25, 1e-5, torch.float32, torch.float32)
    torch.testing.assert_close(new, branch.detach() * keep / 0.75)
    out.sum().backward()
    assert bool((branch.grad[~keep] == 0).all())


def test_add_dropout_norm_promotes_mixed_dtypes():
    """A float32 residual (an embedding front end under autocast) plus a bf16 branch stays float32."""
    norm = _norm(64)
    res = torch.randn(4, 10, 64, device=DEVICE)
    branch = torch.randn(4, 10, 64, device=DEVICE, dtype=torch.bfloat16)
    new, out = fused_norm.add_dropout_norm(res, branch, norm, 0.0, training=False)
    assert new.dtype == out.dtype == torch.float32
    torch.testing.assert_close(new, res + branch.float())


@pytest.mark.parametrize("activation", ["geglu", "reglu"])
def test_model_with_fused_boundaries_matches_plain(activation, monkeypatch):
    """The same model, fused kernels against plain PyTorch: outputs and every parameter gradient."""
    torch.manual_seed(0)
    options = dict(hidden_size=64, num_layers=2, num_heads=4, ffn_size=96, num_outputs=3, dropout=0.0)
    options["activation"] = activation
    model = build_model("transformer", tokenizer="patch", positions="rotary", **options).to(DEVICE).eval()
    ids = model.encode(torch.randint(0, 4, (2, 300), dtype=torch.uint8, device=DEVICE)).ids

    def run():
        model.zero_grad()
        out = model(ids)
        out.square().sum().backward()
        with torch.no_grad(), torch.autocast(DEVICE, dtype=torch.bfloat16):
            states_dtype = model.hidden_states(ids)[0].dtype
        return out.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}, states_dtype

    fused_out, fused_grads, fused_dtype = run()
    from dnabench.models.kernels import fused_glu

    monkeypatch.setattr(fused_norm, "ENABLED", False)
    monkeypatch.setattr(fused_glu, "ENABLED", False)
    plain_out, plain_grads, plain_dtype = run()
    if DEVICE == "cuda":  # the encoder's output under autocast is float32, as from PyTorch's LayerNorm on CUDA
        assert fused_dtype == plain_dtype == torch.float32
    torch.testing.assert_close(fused_out, plain_out, rtol=1e-4, atol=1e-5)
    for name, grad in plain_grads.items():
        torch.testing.assert_close(fused_grads[name], grad, rtol=1e-3, atol=1e-5, msg=lambda m: f"{name}: {m}")


@pytest.mark.skipif(DEVICE != "cuda", reason="host-device synchronisation exists only with a GPU")
def test_fused_boundary_never_waits_for_the_gpu():
    """A sync per call would stall the host every layer (the seed stays on the device)."""
    norm = _norm(512)
    res = torch.randn(8, 100, 512, device=DEVICE, requires_grad=True)
    branch = torch.randn(8, 100, 512, device=DEVICE, requires_grad=True)
    fused_norm.add_dropout_norm(res, branch, norm, 0.1, training=True)  # compile the kernels first
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        new, out = fused_norm.add_dropout_norm(res, branch, norm, 0.1, training=True)
        torch.autograd.backward((new, out), (torch.ones_like(new), torch.ones_like(out)))
    finally:
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_gated_activation_matches_reference(relu, with_bias, dtype):
    """GEGLU / ReGLU over both halves of one matrix, with the input Linear's bias: output and
    every gradient (one matrix for both halves), bias sums included."""
    from dnabench.models.kernels import fused_glu

    gen = torch.Generator(device="cpu").manual_seed(2)
    shape = (5, 41, 400)  # halves of 200 columns: two column blocks, the second partial
    ab = torch.randn(shape, generator=gen).to(DEVICE, dtype).requires_grad_()
    bias = torch.randn(400, generator=gen).to(DEVICE).requires_grad_() if with_bias else None
    h = fused_glu.gated_activation(ab, bias, relu=relu)
    grad_h = torch.randn((5, 41, 200), generator=gen).to(DEVICE, dtype)
    h.backward(grad_h)

    ref_ab = ab.detach().float().requires_grad_()
    ref_bias = bias.detach().clone().requires_grad_() if with_bias else None
    pre = ref_ab + ref_bias if with_bias else ref_ab
    pre_a, pre_b = pre.chunk(2, dim=-1)
    ref_h = (F.relu(pre_a) if relu else F.gelu(pre_a)) * pre_b
    ref_h.backward(grad_h.float())
    loose = dtype == torch.bfloat16
    tol = dict(rtol=2e-2, atol=2e-2) if loose else dict(rtol=1e-5, atol=1e-5)
    assert h.dtype == dtype and h.shape == grad_h.shape
    torch.testing.assert_close(h.float(), ref_h, **tol)
    torch.testing.assert_close(ab.grad.float(), ref_ab.grad, **tol)
    if with_bias:
        sums = dict(rtol=2e-2, atol=5e-2) if loose else dict(rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(bias.grad, ref_bias.grad, **sums)


def test_fused_gated_activation_rejects_odd_widths_and_bias_shapes():
    from dnabench.models.kernels import fused_glu

    with pytest.raises(ValueError, match="must be even"):
        fused_glu.gated_activation(torch.zeros(2, 5, device=DEVICE), None, relu=False)
    with pytest.raises(ValueError, match="bias shape"):
        fused_glu.gated_activation(torch.zeros(2, 6, device=DEVICE), torch.zeros(3, device=DEVICE), relu=False)


@pytest.mark.parametrize("rotary", [True, False])
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_qkv_projection_matches_three_linears(rotary, with_bias, dtype):
    """One matmul for q, k, v with the one-pass backward: outputs, input, weight and bias
    gradients equal those of three Linears over slices of the weight."""
    from dnabench.models.kernels import fused_qkv
    from dnabench.models.positions import apply_rotary, rotary_cos_sin

    gen = torch.Generator(device="cpu").manual_seed(3)
    batch, length, heads, dim = 3, 37, 4, 32  # 64 pairs per row: one full column block, 37 rows
    hidden = heads * dim
    x = torch.randn(batch, length, hidden, generator=gen).to(DEVICE, dtype).requires_grad_()
    weight = (0.1 * torch.randn(3 * hidden, hidden, generator=gen)).to(DEVICE, dtype).requires_grad_()
    bias = torch.randn(3 * hidden, generator=gen).to(DEVICE, dtype).requires_grad_() if with_bias else None
    cos, sin = (t.to(DEVICE) for t in rotary_cos_sin(torch.arange(length), dim, 10000.0)) if rotary else (None, None)
    grads = [torch.randn(batch, length, heads, dim, generator=gen).to(DEVICE, dtype) for _ in range(3)]

    outs = fused_qkv.qkv_projection(x, weight, bias, heads, cos, sin)
    torch.autograd.backward(outs, grads)
    params = [x, weight] + ([bias] if with_bias else [])
    # The reference runs in float32: bf16 results are checked against the exact values.
    leaves = [t.detach().float().requires_grad_() for t in params]
    ref_bias = leaves[2].chunk(3) if with_bias else (None,) * 3
    ref = [F.linear(leaves[0], w, b).view(batch, length, heads, dim) for w, b in zip(leaves[1].chunk(3), ref_bias)]
    if rotary:
        ref[0], ref[1] = (apply_rotary(t, cos[:, None], sin[:, None]) for t in ref[:2])
    torch.autograd.backward(ref, [g.float() for g in grads])
    for name, got, expected in zip(("q", "k", "v"), outs, ref):
        assert got.shape == expected.shape and got.dtype == dtype
        _assert_near(got, expected, dtype, name)
    for name, got, leaf in zip(("x", "weight", "bias"), params, leaves):
        _assert_near(got.grad, leaf.grad, dtype, f"grad of {name}")


def _assert_near(got: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype, name: str) -> None:
    """float32: elementwise; bf16: relative error of the whole tensor within bf16 rounding."""
    if dtype == torch.float32:
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4, msg=lambda m: f"{name}: {m}")
        return
    error = (got.float() - expected).norm() / expected.norm()
    assert error < 1e-2, f"{name}: relative error {error:.2e}"


@pytest.mark.skipif(DEVICE != "cuda", reason="compiles a model for the GPU")
@pytest.mark.parametrize("tokenizer, positions", [("patch", "rotary"), ("patch", "absolute"), ("bpe", "relative")])
def test_compiled_model_with_fused_kernels_matches_plain(monkeypatch, tokenizer, positions):
    """Compiled, the gated activation is fused and q, k, v are one matmul with the Triton
    backward (with and without rotary, with a padding mask): outputs and gradients still match."""
    import torch._dynamo
    from dnabench.models.kernels import fused_glu, fused_qkv, triton_glu, triton_qkv

    calls = {"glu": 0, "qkv": 0}

    def counting(module, name, key):
        original = getattr(module, name)

        def counted(*args, **kwargs):
            calls[key] += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)

    counting(triton_glu, "forward", "glu")
    counting(triton_qkv, "backward", "qkv")
    torch.manual_seed(0)
    options = dict(hidden_size=64, num_layers=2, num_heads=4, ffn_size=96, num_outputs=3, dropout=0.0)
    if tokenizer == "bpe":
        options["vocab_size"] = 50
    model = build_model("transformer", tokenizer=tokenizer, positions=positions, **options).to(DEVICE).eval()
    if tokenizer == "bpe":
        ids = torch.randint(5, 50, (2, 40), device=DEVICE)
        mask = torch.ones_like(ids, dtype=torch.bool)
        mask[1, 25:] = False  # the second row is padded
    else:
        ids = model.encode(torch.randint(0, 4, (2, 300), dtype=torch.uint8, device=DEVICE)).ids
        mask = None
    results = []
    for enabled in (True, False):
        monkeypatch.setattr(fused_norm, "ENABLED", enabled)
        monkeypatch.setattr(fused_glu, "ENABLED", enabled)
        monkeypatch.setattr(fused_qkv, "ENABLED", enabled)
        torch._dynamo.reset()
        compiled = torch.compile(model)
        model.zero_grad()
        out = compiled(ids, mask)
        out.square().sum().backward()
        results.append((out.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}))
    torch._dynamo.reset()
    assert calls == {"glu": 2, "qkv": 2}  # one per layer, in the first (fused) run only
    (fused_out, fused_grads), (plain_out, plain_grads) = results
    torch.testing.assert_close(fused_out, plain_out, rtol=1e-4, atol=1e-5)
    for name, grad in plain_grads.items():
        torch.testing.assert_close(fused_grads[name], grad, rtol=1e-3, atol=1e-5, msg=lambda m: f"{name}: {m}")
