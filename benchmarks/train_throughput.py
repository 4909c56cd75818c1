"""Training throughput of the model zoo on one GPU, against Hugging Face BertModel in the same run.

A full train step (forward, BCE loss, backward, AdamW step; bf16 autocast; AdamW fused=True on
CUDA; torch.compile) on random 1000 bp inputs, batch 256, timed after warm-up steps with
torch.cuda.synchronize around the timed loop:

  1. the default dnabench Transformer: 4-patch + Conv1d(7), rotary, 4 layers x 512, 8 heads,
     GEGLU FFN 1344 -> 250 tokens + CLS; section "ablation" times it again with each of its
     GPU paths (fused residual/dropout/LayerNorm kernels, fused GEGLU kernels, channels-last
     convolution, one q/k/v matmul) switched off, and with all of them off;
     section "attention" times it once per SDPA backend (cuDNN, FlashAttention-2, efficient);
  2. transformers.BertModel (attn_implementation="sdpa") with the same depth, width, heads,
     token count and FFN parameter count (intermediate 2016 = 1.5 x 1344), the same head, trained
     the same way (skipped when transformers is not installed);
  3. every tokenizer x position combination and both CNN baselines.

FLOPs per step, for Transformers: 6 x per-token parameters (non-embedding, head excluded) x
tokens + 6 x head parameters x sequences + attention 12 x layers x hidden x tokens^2 per
sequence. CNN FLOPs are counted by torch.utils.flop_counter (forward x 3). MFU = achieved
TFLOP/s over --peak-tflops (H100 SXM dense bf16: 989).

Token ids are made once, on the device, before timing (the model step is what is timed; GPU
tokenization of the fixed-length tokenizers is a few elementwise kernels). BPE rows are
synthetic ids (vocab 16000, about L/7 tokens a row, lengths +-10 % and padded) so no trained
vocabulary is needed.

Usage:
  python benchmarks/train_throughput.py                       # full run on a GPU
  python benchmarks/train_throughput.py --sections default,bert --compile-scope model
  python benchmarks/train_throughput.py --sections default,ablation,bert --compile-modes default,reduce-overhead
  python benchmarks/train_throughput.py --sections default --profile   # + the top GPU kernels
  python benchmarks/train_throughput.py --sections default --no-bias --dropout 0
  python benchmarks/train_throughput.py --smoke               # tiny CPU run that checks the script
"""

from __future__ import annotations

import argparse
import datetime as _dt
import math
import platform
import sys
import time
from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from dnabench.models import DNAModel, HeadConfig, build_model, frontends
from dnabench.models.heads import Head
from dnabench.models.kernels import fused_glu, fused_norm, fused_qkv

SECTIONS = ("default", "ablation", "attention", "bert", "combos")
SDPA_BACKENDS = ("cudnn", "flash", "efficient")
TOKENIZERS = ("patch", "kmer", "onehot", "bpe")
POSITIONS = ("rotary", "relative", "absolute")
#: Section "ablation": the default model with each GPU-side choice switched off, then all of them.
ABLATIONS = {
    "without the fused residual/dropout/LayerNorm kernels": [(fused_norm, "ENABLED")],
    "without the fused GEGLU kernels": [(fused_glu, "ENABLED")],
    "with cuDNN's 1-D convolution": [(frontends, "CHANNELS_LAST_CONV")],
    "with three q/k/v matmuls (no fused q/k/v backward)": [(fused_qkv, "ENABLED")],
    "with none of these": [
        (fused_norm, "ENABLED"), (fused_glu, "ENABLED"), (frontends, "CHANNELS_LAST_CONV"), (fused_qkv, "ENABLED"),
    ],
}
BPE_VOCAB = 16000
BPE_BASES_PER_TOKEN = 7


@dataclass
class Result:
    model: str
    tokens: int
    params: int
    seq_per_s: float
    flops_per_step: Optional[float]
    peak_tflops: float
    batch: int
    note: str = ""

    @property
    def tokens_per_s(self) -> float:
        return self.seq_per_s * self.tokens

    @property
    def tflops(self) -> Optional[float]:
        if self.flops_per_step is None:
            return None
        return self.flops_per_step * self.seq_per_s / self.batch / 1e12

    def row(self) -> str:
        tf = self.tflops
        tf_s = (f"{tf:.1f}" if tf >= 1 else f"{tf:.3g}") if tf is not None else "-"
        mfu = f"{100 * tf / self.peak_tflops:.1f} %" if tf is not None and self.peak_tflops > 0 else "-"
        name = self.model + (f" ({self.note})" if self.note else "")
        return (
            f"| {name} | {self.tokens} | {self.params / 1e6:.2f} M | {self.seq_per_s:,.0f} | "
            f"{self.tokens_per_s:,.0f} | {tf_s} | {mfu} |"
        )


# ----------------------------------------------------------------------------- inputs


def make_codes(batch: int, length: int, device: torch.device, seed: int = 0) -> torch.Tensor:
    g = torch.Generator(device="cpu").manual_seed(seed)
    return torch.randint(0, 4, (batch, length), generator=g, dtype=torch.uint8).to(device)


def synthetic_bpe_ids(batch: int, length: int, device: torch.device, seed: int = 0):
    """CLS + ~length/7 ids per row (+-10 %), right-padded with PAD: what a 16k BPE gives for DNA."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    mean = math.ceil(length / BPE_BASES_PER_TOKEN)
    lengths = torch.randint(int(mean * 0.9), int(mean * 1.1) + 1, (batch,), generator=g)
    width = int(lengths.max())
    ids = torch.randint(4, BPE_VOCAB, (batch, width), generator=g)
    mask = torch.arange(width)[None, :] < lengths[:, None]
    ids = torch.where(mask, ids, torch.zeros_like(ids))
    ids = torch.cat([torch.ones(batch, 1, dtype=torch.long), ids], dim=1)
    mask = torch.cat([torch.ones(batch, 1, dtype=torch.bool), mask], dim=1)
    return ids.to(device), mask.to(device)


# ----------------------------------------------------------------------------- FLOPs


def head_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.head.parameters())


def transformer_flops(per_token_params: int, head: int, layers: int, hidden: int, tokens: int, batch: int) -> float:
    dense = 6 * per_token_params * tokens * batch + 6 * head * batch
    attention = 12 * layers * hidden * tokens**2 * batch
    return float(dense + attention)


def counted_flops(model: nn.Module, ids: torch.Tensor, mask: Optional[torch.Tensor], amp: bool) -> Optional[float]:
    """Forward FLOPs from torch.utils.flop_counter, x3 for forward + backward."""
    try:
        from torch.utils.flop_counter import FlopCounterMode
    except ImportError:  # pragma: no cover
        return None
    with torch.no_grad(), torch.autocast(ids.device.type, dtype=torch.bfloat16, enabled=amp):
        counter = FlopCounterMode(display=False)
        with counter:
            model(ids, mask)
    total = counter.get_total_flops()
    return 3.0 * total if total else None


# ----------------------------------------------------------------------------- timing


def time_training(
    model: nn.Module,
    ids: torch.Tensor,
    mask: Optional[torch.Tensor],
    num_outputs: int,
    warmup: int,
    steps: int,
    amp: bool,
) -> float:
    """Sequences per second of full train steps (forward, BCE, backward, AdamW)."""
    device = ids.device
    cuda = device.type == "cuda"
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01, fused=cuda)
    target = (torch.rand(ids.shape[0], num_outputs, device=device) < 0.05).float()

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(ids, mask)
        loss = F.binary_cross_entropy_with_logits(logits.float(), target)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    start = time.perf_counter()
    for _ in range(warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
    print(f"    warm-up (compilation included): {time.perf_counter() - start:.1f} s", flush=True)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    return ids.shape[0] * steps / elapsed


def print_profile(
    model: nn.Module, ids: torch.Tensor, mask: Optional[torch.Tensor], num_outputs: int, amp: bool, step_ms: float,
    steps: int = 5,
) -> None:
    """torch.profiler over `steps` train steps: the kernels that take the time, most first, and
    their sum per step against the timed step (a gap means the GPU waited for the host)."""
    from torch.profiler import ProfilerActivity, profile

    device = ids.device
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")
    target = (torch.rand(ids.shape[0], num_outputs, device=device) < 0.05).float()

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(ids, mask)
        F.binary_cross_entropy_with_logits(logits.float(), target).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    activities = [ProfilerActivity.CUDA] if device.type == "cuda" else [ProfilerActivity.CPU]
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize()
    averages = prof.key_averages()
    attr = "self_device_time_total" if hasattr(averages[0], "self_device_time_total") else "self_cuda_time_total"
    if device.type != "cuda":
        attr = "self_cpu_time_total"
    rows = sorted(((getattr(e, attr) / 1000 / steps, e.count / steps, e.key) for e in averages), reverse=True)
    rows = [r for r in rows if r[0] > 0]
    total_ms = sum(r[0] for r in rows)
    print(f"  profile of {steps} train steps, per step (name, ms, calls):", flush=True)
    for ms, calls, name in rows[:25]:
        print(f"    {name[:100]:<100} {ms:8.3f} ms {calls:5.1f}x", flush=True)
    groups: dict[str, float] = {}
    for ms, _, name in rows:
        groups[kernel_group(name)] = groups.get(kernel_group(name), 0.0) + ms
    print("  by group: " + ", ".join(f"{g} {ms:.2f} ms" for g, ms in sorted(groups.items(), key=lambda kv: -kv[1])))
    if device.type == "cuda":
        print(f"  GPU kernel time per step {total_ms:.2f} ms; timed step {step_ms:.2f} ms "
              f"({100 * total_ms / step_ms:.0f} % busy)", flush=True)


#: Profile groups, the first whose name fragment a kernel's name holds.
KERNEL_GROUPS = (
    ("attention", ("sdpa", "flash", "fmha", "attention", "dot_do_o", "convert_dq")),
    ("convolution", ("implicit_gemm", "nhwc", "conv")),
    ("matmul", ("nvjet", "gemm", "cutlass", "splitKreduce", "xmma")),
    ("dnabench Triton", ("_forward_kernel", "_backward_kernel")),
    ("Inductor Triton", ("triton_",)),
    ("optimizer", ("multi_tensor_apply",)),
)


def kernel_group(name: str) -> str:
    for group, fragments in KERNEL_GROUPS:
        if any(f in name for f in fragments):
            return group
    return "other"


def maybe_compile(model: nn.Module, args: argparse.Namespace) -> nn.Module:
    """Compile afresh: without the reset a new model reuses the previous model's graphs (and
    the attention backend chosen when they were traced)."""
    if args.no_compile:
        return model
    torch._dynamo.reset()
    options = {} if args.compile_mode == "default" else {"mode": args.compile_mode}
    if isinstance(model, DNAModel):
        return model.compile(scope=args.compile_scope, **options)
    model.compile(**options)
    return model


# ----------------------------------------------------------------------------- models


def encoder_options(args: argparse.Namespace) -> dict:
    return dict(
        hidden_size=args.hidden,
        num_layers=args.layers,
        num_heads=args.heads,
        ffn_size=args.ffn,
        num_outputs=args.outputs,
        max_positions=max(2048, args.length + 1),
        bias=not args.no_bias,
        dropout=args.dropout,
    )


def dnabench_inputs(model: DNAModel, kind: str, args: argparse.Namespace, device: torch.device):
    if kind == "bpe":
        return synthetic_bpe_ids(args.batch_size, args.length, device)
    batch = model.encode(make_codes(args.batch_size, args.length, device))
    return batch.ids, None  # fixed-length tokenizers never pad


def sdpa_backend(name: Optional[str]):
    """A context that limits scaled_dot_product_attention to one backend (None: PyTorch's choice)."""
    import contextlib

    if name is None:
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    backends = {"cudnn": SDPBackend.CUDNN_ATTENTION, "flash": SDPBackend.FLASH_ATTENTION,
                "efficient": SDPBackend.EFFICIENT_ATTENTION}
    return sdpa_kernel([backends[name]])


def bench_transformer(
    kind: str, positions: str, args: argparse.Namespace, device: torch.device, label: str, backend: Optional[str] = None
) -> Result:
    options = encoder_options(args)
    if kind == "bpe":
        options["vocab_size"] = BPE_VOCAB
    model = build_model("transformer", tokenizer=kind, positions=positions, **options).to(device)
    ids, mask = dnabench_inputs(model, kind, args, device)
    with torch.no_grad():
        tokens = model.hidden_states(ids, mask)[0].shape[1]
    per_token = model.num_parameters(exclude_embeddings=True) - head_params(model)
    flops = transformer_flops(per_token, head_params(model), args.layers, args.hidden, tokens, args.batch_size)
    if label == "default" and args.check_flops:
        counted = counted_flops(model, ids, mask, args.amp)
        if counted:
            print(f"  flop_counter (forward x 3): {counted:.4e}  formula: {flops:.4e}", flush=True)
    maybe_compile(model, args)
    with sdpa_backend(backend):
        seq_s = time_training(model, ids, mask, args.outputs, args.warmup, args.steps, args.amp)
        if label == "default" and args.profile:
            print_profile(model, ids, mask, args.outputs, args.amp, 1000 * args.batch_size / seq_s)
    note = "synthetic ids" if kind == "bpe" else ""
    name = {
        "default": f"dnabench default ({kind}/{positions})",
        **{label: f"dnabench default ({kind}/{positions}), {label}" for label in ABLATIONS},
        "attention": f"dnabench default ({kind}/{positions}), SDPA backend {backend}",
    }.get(label, f"dnabench transformer {kind}/{positions}")
    print(f"  {name}: {tokens} tokens, FLOPs/step {flops:.4e}, {seq_s:,.0f} seq/s", flush=True)
    result = Result(name, tokens, model.num_parameters(), seq_s, flops, args.peak_tflops, args.batch_size, note)
    del model
    return result


class BertClassifier(nn.Module):
    """transformers.BertModel (no pooler) + the dnabench head on the CLS output."""

    def __init__(self, bert: nn.Module, hidden: int, num_outputs: int) -> None:
        super().__init__()
        self.bert = bert
        self.head = Head(hidden, HeadConfig(num_outputs=num_outputs))

    def forward(self, ids: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        states = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state
        return self.head(states[:, 0])


def build_bert(args: argparse.Namespace, vocab_size: int, tokens: int) -> Optional[nn.Module]:
    try:
        import transformers
        from transformers import BertConfig, BertModel
    except ImportError:
        print("  transformers is not installed: BertModel row skipped (pip install transformers)", flush=True)
        return None
    intermediate = args.ffn * 3 // 2  # gated FFN 3*h*f params == plain FFN 2*h*i params
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=args.hidden,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        intermediate_size=intermediate,
        hidden_act="gelu",
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.0,  # as dnabench's default attention_dropout
        max_position_embeddings=max(512, tokens),
    )
    config._attn_implementation = "sdpa"
    try:
        bert = BertModel(config, add_pooling_layer=False, attn_implementation="sdpa")
    except TypeError:
        bert = BertModel(config, add_pooling_layer=False)
    impl = getattr(bert.config, "_attn_implementation", "?")
    print(f"  transformers {transformers.__version__}, BertModel attention: {impl}, intermediate {intermediate}", flush=True)
    return BertClassifier(bert, args.hidden, args.outputs)


def bench_bert(args: argparse.Namespace, device: torch.device) -> Optional[Result]:
    probe = build_model("transformer", tokenizer="patch", **encoder_options(args))
    ids, _ = dnabench_inputs(probe, "patch", args, device)
    tokens = ids.shape[1]
    model = build_bert(args, probe.config.frontend.vocab_size, tokens)
    if model is None:
        return None
    model = model.to(device)
    embeddings = sum(p.numel() for p in model.bert.embeddings.parameters())
    total = sum(p.numel() for p in model.parameters())
    per_token = total - embeddings - head_params(model)
    flops = transformer_flops(per_token, head_params(model), args.layers, args.hidden, tokens, args.batch_size)
    maybe_compile(model, args)
    seq_s = time_training(model, ids, None, args.outputs, args.warmup, args.steps, args.amp)
    print(f"  BertModel: {tokens} tokens, FLOPs/step {flops:.4e}, {seq_s:,.0f} seq/s", flush=True)
    return Result("transformers BertModel (sdpa)", tokens, total, seq_s, flops, args.peak_tflops, args.batch_size)


def bench_cnn(name: str, args: argparse.Namespace, device: torch.device) -> Result:
    options: dict = dict(seq_len=args.length, num_outputs=args.outputs)
    if args.smoke:
        options.update(channels=(16, 24), lstm_hidden=8) if name == "cnn_lstm" else options.update(channels=(16, 24), fc_size=32)
    model = build_model(name, **options).to(device)
    ids = model.encode(make_codes(args.batch_size, args.length, device)).ids
    flops = counted_flops(model, ids, None, args.amp)
    maybe_compile(model, args)
    seq_s = time_training(model, ids, None, args.outputs, args.warmup, args.steps, args.amp)
    print(f"  {name}: {seq_s:,.0f} seq/s", flush=True)
    note = "FLOPs counted" + (", LSTM not counted" if name == "cnn_lstm" else "")
    return Result(name, args.length, model.num_parameters(), seq_s, flops, args.peak_tflops, args.batch_size, note)


# ----------------------------------------------------------------------------- main


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--length", type=int, default=1000, help="bases per sequence (default 1000)")
    p.add_argument("--outputs", type=int, default=919, help="head outputs (default 919, DeepSEA's labels)")
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--ffn", type=int, default=1344, help="gated FFN size (BERT gets 1.5x this)")
    p.add_argument("--warmup", type=int, default=15, help="untimed steps first (compilation happens here)")
    p.add_argument("--steps", type=int, default=100, help="timed steps")
    p.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak for MFU (H100 SXM: 989)")
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"comma list of {', '.join(SECTIONS)}")
    p.add_argument("--no-compile", action="store_true", help="eager mode (default: torch.compile)")
    p.add_argument("--compile-scope", choices=("model", "blocks"), default="model",
                   help="dnabench models: compile the whole model or only the encoder blocks")
    p.add_argument("--compile-modes", default="default",
                   help="comma list of torch.compile modes; sections default, ablation, attention and bert run "
                        "once per mode (reduce-overhead: CUDA graphs)")
    p.add_argument("--combos-eager", action="store_true", help="no torch.compile for the combination sweep")
    p.add_argument("--tokenizers", default=",".join(TOKENIZERS), help="combos: comma list of tokenizers")
    p.add_argument("--positions", default=",".join(POSITIONS), help="combos: comma list of position kinds")
    p.add_argument("--no-cnn", action="store_true", help="combos: skip the CNN baselines")
    p.add_argument("--no-amp", action="store_true", help="no bf16 autocast")
    p.add_argument("--check-flops", action="store_true", help="also count the default model's FLOPs with flop_counter")
    p.add_argument("--no-bias", action="store_true", help="dnabench Transformers without Linear biases (EncoderConfig.bias)")
    p.add_argument("--dropout", type=float, default=0.1, help="dnabench Transformers' dropout (default 0.1, the model's)")
    p.add_argument("--profile", action="store_true", help="after timing the default model, print its top GPU kernels (torch.profiler)")
    p.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    p.add_argument("--smoke", action="store_true",
                   help="tiny CPU run (hidden 64, 2 layers, batch 4, 200 bp, 1+2 steps, eager) that checks the script")
    args = p.parse_args(argv)
    if args.smoke:
        args.device = args.device or "cpu"
        args.batch_size, args.length, args.hidden, args.layers, args.heads, args.ffn = 4, 200, 64, 2, 4, 96
        args.outputs, args.warmup, args.steps = 8, 1, 2
        args.no_compile = True
        args.check_flops = True
    args.device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    args.amp = not args.no_amp and args.device.type == "cuda"
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    args.compile_modes = [m.strip() for m in args.compile_modes.split(",") if m.strip()]
    modes = ("default", "reduce-overhead", "max-autotune-no-cudagraphs")
    if not args.compile_modes or set(args.compile_modes) - set(modes):
        p.error(f"--compile-modes from {', '.join(modes)}")
    args.compile_mode = args.compile_modes[0]
    args.tokenizers = [t.strip() for t in args.tokenizers.split(",") if t.strip()]
    args.positions = [t.strip() for t in args.positions.split(",") if t.strip()]
    if set(args.tokenizers) - set(TOKENIZERS) or set(args.positions) - set(POSITIONS):
        p.error(f"--tokenizers from {', '.join(TOKENIZERS)}; --positions from {', '.join(POSITIONS)}")
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        p.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    return args


def warm_gpu(device: torch.device, seconds: float = 3.0) -> None:
    """Matmuls for a few seconds, so the first model timed does not meet an idle card's clocks."""
    a = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(20):
            a @ a
        torch.cuda.synchronize()


def bench_main_sections(args: argparse.Namespace, device: torch.device) -> list[Result]:
    """Sections default, ablation, attention and bert, in ``args.compile_mode``."""
    results: list[Result] = []
    if "default" in args.sections:
        results.append(bench_transformer("patch", "rotary", args, device, "default"))
    if "ablation" in args.sections:
        for label, switches in ABLATIONS.items():
            saved = [(module, name, getattr(module, name)) for module, name in switches]
            try:
                for module, name in switches:
                    setattr(module, name, False)
                results.append(bench_transformer("patch", "rotary", args, device, label))
            finally:
                for module, name, value in saved:
                    setattr(module, name, value)
    if "attention" in args.sections and device.type == "cuda":
        for backend in SDPA_BACKENDS:
            try:
                results.append(bench_transformer("patch", "rotary", args, device, "attention", backend))
            except RuntimeError as err:  # a backend the card or build lacks
                print(f"  SDPA backend {backend}: unavailable ({str(err).splitlines()[0]})", flush=True)
    if "bert" in args.sections:
        bert = bench_bert(args, device)
        if bert is not None:
            results.append(bert)
    if len(args.compile_modes) > 1 and not args.no_compile:
        for r in results:
            r.model += f", compile mode {args.compile_mode}"
    return results


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    device = args.device
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        card = torch.cuda.get_device_name(device)
    else:
        card = f"CPU ({platform.processor() or platform.machine()}), no GPU"
    print(f"# dnabench train throughput: {card}, torch {torch.__version__}, {_dt.date.today().isoformat()}", flush=True)
    compile_desc = "eager" if args.no_compile else f"torch.compile ({args.compile_scope}, modes {', '.join(args.compile_modes)})"
    print(
        f"batch {args.batch_size}, {args.length} bp, {args.outputs} outputs, "
        f"{'bf16 autocast' if args.amp else 'fp32'}, {compile_desc}, AdamW fused={device.type == 'cuda'}, "
        f"{args.warmup} warm-up + {args.steps} timed steps",
        flush=True,
    )
    if device.type == "cuda":
        warm_gpu(device)
    results: list[Result] = []
    for mode in args.compile_modes:
        args.compile_mode = mode
        results += bench_main_sections(args, device)
    args.compile_mode = args.compile_modes[0]
    if "combos" in args.sections:
        saved = args.no_compile
        args.no_compile = args.no_compile or args.combos_eager
        for kind in args.tokenizers:
            for positions in args.positions:
                results.append(bench_transformer(kind, positions, args, device, "combo"))
        for name in () if args.no_cnn else ("cnn_fc", "cnn_lstm"):
            results.append(bench_cnn(name, args, device))
        args.no_compile = saved
        if device.type == "cuda":
            torch.cuda.empty_cache()

    print()
    print(f"Card: {card}; date: {_dt.date.today().isoformat()}; torch {torch.__version__}; "
          f"batch {args.batch_size}; {args.length} bp; {compile_desc}"
          + ("; combos eager" if args.combos_eager and not args.no_compile else ""))
    print()
    print("| model | tokens | params | seq/s | tokens/s | TFLOP/s | MFU |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(r.row())
    return 0


if __name__ == "__main__":
    sys.exit(main())
