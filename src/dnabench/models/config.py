"""Typed configuration of every model: front end + trunk + head, validated on construction.

Each model kind has one top-level dataclass made of parts (``FrontendConfig``,
``EncoderConfig``, ``ConvStackConfig``, ``HeadConfig``). Choices are ``Literal`` types and are
checked in ``__post_init__``, so a typo fails at construction with the list of valid values,
not deep inside a forward pass. Configurations round-trip through plain JSON
(:func:`config_to_dict` / :func:`config_from_dict`), which is what ``config.json`` holds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Union, get_args, get_origin, get_type_hints

from dnabench.tokenize.kinds import TokenizerKind

#: the position encodings (paper 5.1), listed here once
PositionKind = Literal["rotary", "relative", "absolute"]
POSITIONS: tuple[str, ...] = get_args(PositionKind)
FFNActivation = Literal["geglu", "reglu", "gelu", "relu"]
RelativeImpl = Literal["auto", "flex", "sdpa"]
HeadActivation = Literal["gelu", "relu", "tanh"]
OutputKind = Literal["probability", "value"]
#: how a Transformer's token states become one sequence vector: the CLS state, or the mean of the sequence tokens
PoolingKind = Literal["cls", "mean"]

#: Default k per tokenizer kind (paper 5.1: 5-mer, 4-patch).
DEFAULT_K = {"kmer": 5, "patch": 4}
#: Default convolution kernel per conv front end (paper 5.1: 7 for 4-patch, 25 for one-hot).
DEFAULT_CONV_KERNEL = {"patch": 7, "onehot": 25}

NUM_SPECIAL = 4  # PAD CLS MASK UNK (dnabench.tokenize); kept here so configs import nothing heavy


def _fail(cls: object, name: str, message: str) -> None:
    raise ValueError(f"{type(cls).__name__}.{name} {message}")


def _check_literals(obj: object) -> None:
    """Every ``Literal[...]`` field must hold one of its listed values."""
    hints = get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        hint = hints[f.name]
        if get_origin(hint) is Literal:
            allowed = get_args(hint)
            value = getattr(obj, f.name)
            if value not in allowed:
                choices = ", ".join(repr(a) for a in allowed)
                _fail(obj, f.name, f"must be one of {choices}; got {value!r}")


def _positive_int(obj: object, *names: str, allow_zero: bool = False) -> None:
    for name in names:
        value = getattr(obj, name)
        low = 0 if allow_zero else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            _fail(obj, name, f"must be an integer >= {low}; got {value!r}")


def _probability(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
            _fail(obj, name, f"must be a float in [0, 1); got {value!r}")


@dataclass
class FrontendConfig:
    """How token ids become the encoder's input vectors (paper 5.1).

    ``k``, ``stride``, ``conv_kernel`` and ``vocab_size`` left at ``None`` are filled in from
    the tokenizer kind (kmer k=5 stride 1; patch k=4 kernel 7; onehot kernel 25 pool 4);
    ``vocab_size`` of a BPE model comes from its trained tokenizer.
    """

    tokenizer: TokenizerKind = "patch"
    k: Optional[int] = None
    stride: Optional[int] = None
    vocab_size: Optional[int] = None
    conv_kernel: Optional[int] = None
    pool: int = 4

    def __post_init__(self) -> None:
        _check_literals(self)
        kind = self.tokenizer
        if kind in DEFAULT_K:
            if self.k is None:
                self.k = DEFAULT_K[kind]
            _positive_int(self, "k")
        elif self.k is not None:
            _fail(self, "k", f"applies to kmer and patch tokenizers only, not {kind!r}")
        if kind == "kmer":
            if self.stride is None:
                self.stride = 1
            _positive_int(self, "stride")
        elif self.stride is not None:
            _fail(self, "stride", f"applies to the kmer tokenizer only, not {kind!r}")
        if kind in DEFAULT_CONV_KERNEL:
            if self.conv_kernel is None:
                self.conv_kernel = DEFAULT_CONV_KERNEL[kind]
            _positive_int(self, "conv_kernel")
            if self.conv_kernel % 2 == 0:
                _fail(self, "conv_kernel", f"must be odd for 'same' padding; got {self.conv_kernel}")
        elif self.conv_kernel is not None:
            _fail(self, "conv_kernel", f"applies to patch and onehot front ends only, not {kind!r}")
        _positive_int(self, "pool")
        expected = self.expected_vocab_size()
        if self.vocab_size is None:
            self.vocab_size = expected
        if kind == "bpe":
            if self.vocab_size is not None:
                _positive_int(self, "vocab_size")
                if self.vocab_size <= NUM_SPECIAL:
                    _fail(self, "vocab_size", f"must exceed the {NUM_SPECIAL} special ids; got {self.vocab_size}")
        elif self.vocab_size != expected:
            _fail(self, "vocab_size", f"of a {kind} front end must be {expected}; got {self.vocab_size}")

    def expected_vocab_size(self) -> Optional[int]:
        """Vocabulary implied by the tokenizer kind (None for BPE: it depends on training)."""
        if self.tokenizer == "onehot":
            return NUM_SPECIAL + 5
        if self.tokenizer == "kmer":
            return NUM_SPECIAL + 4 ** int(self.k)  # type: ignore[arg-type]
        if self.tokenizer == "patch":
            return NUM_SPECIAL + 5 ** int(self.k)  # type: ignore[arg-type]
        return None

    def tokenizer_params(self) -> dict[str, Any]:
        """Keyword arguments of ``dnabench.tokenize.get_tokenizer`` for this front end."""
        if self.tokenizer == "kmer":
            return {"k": self.k, "stride": self.stride}
        if self.tokenizer == "patch":
            return {"k": self.k}
        return {}


@dataclass
class EncoderConfig:
    """Pre-norm Transformer encoder (paper 5.2.2): 4 layers x 512 hidden, 8 heads, gated FFN.

    ``ffn_size`` 1344 is 8/3 x hidden rounded to a multiple of 64: a gated FFN of this size
    has the parameter count of a plain 4 x hidden (2048) FFN with intermediate 2016.
    """

    hidden_size: int = 512
    num_layers: int = 4
    num_heads: int = 8
    ffn_size: int = 1344
    activation: FFNActivation = "geglu"
    dropout: float = 0.1
    attention_dropout: float = 0.0
    positions: PositionKind = "rotary"
    max_positions: int = 2048
    rotary_base: float = 10000.0
    relative_buckets: int = 32
    relative_max_distance: int = 128
    relative_impl: RelativeImpl = "auto"
    norm_eps: float = 1e-5
    bias: bool = True

    def __post_init__(self) -> None:
        _check_literals(self)
        _positive_int(self, "hidden_size", "num_layers", "num_heads", "ffn_size", "max_positions")
        _positive_int(self, "relative_buckets", "relative_max_distance")
        _probability(self, "dropout", "attention_dropout")
        if self.hidden_size % self.num_heads:
            _fail(self, "hidden_size", f"({self.hidden_size}) must be divisible by num_heads ({self.num_heads})")
        if self.positions == "rotary" and self.head_dim % 2:
            _fail(self, "hidden_size", f"/ num_heads must be even for rotary positions; head size is {self.head_dim}")
        if self.relative_buckets < 4 or self.relative_buckets % 2:
            _fail(self, "relative_buckets", f"must be an even integer >= 4; got {self.relative_buckets}")
        if self.relative_max_distance < self.relative_buckets // 2:
            _fail(self, "relative_max_distance", f"must be >= relative_buckets / 2; got {self.relative_max_distance}")
        if not self.rotary_base > 1.0:
            _fail(self, "rotary_base", f"must be > 1; got {self.rotary_base!r}")
        if not self.norm_eps > 0:
            _fail(self, "norm_eps", f"must be > 0; got {self.norm_eps!r}")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads


@dataclass
class HeadConfig:
    """Task head (appendix A): Linear -> activation -> dropout -> Linear, giving logits.

    ``output`` says what :meth:`DNAModel.predict` returns: ``probability`` applies a sigmoid
    (PromVary, Methyl96, Track7878), ``value`` returns the raw output (GeneExp, MPRA).
    ``head_hidden`` None means the size of the sequence representation.
    """

    num_outputs: int = 1
    head_hidden: Optional[int] = None
    head_activation: HeadActivation = "gelu"
    head_dropout: float = 0.1
    output: OutputKind = "probability"

    def __post_init__(self) -> None:
        _check_literals(self)
        _positive_int(self, "num_outputs")
        if self.head_hidden is not None:
            _positive_int(self, "head_hidden")
        _probability(self, "head_dropout")


@dataclass
class TransformerConfig:
    """``transformer``: a front end (tokenizer kind), the encoder, and a head on the pooled output.

    ``pooling`` ``"cls"`` reads the final CLS state (the paper's model); ``"mean"`` averages the
    final states of the sequence's real tokens, which leaves every token a direct path to the
    head and trains better from few rows.
    """

    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    pooling: PoolingKind = "cls"
    compile: bool = False

    def __post_init__(self) -> None:
        _check_parts(self)
        _check_literals(self)


@dataclass
class ConvStackConfig:
    """DeepSEA/Basset-style trunk on one-hot input: [Conv -> (BatchNorm) -> ReLU -> MaxPool -> Dropout] x n.

    Convolutions are 'valid' (no padding) as in DeepSEA, so ``seq_len`` (bases) fixes the
    length of the feature map. An input too short to leave a position after the last pool
    (under 211 bp for the default stack: GUE's 70 and 101 bp tables) is N-padded on both
    sides to ``padded_length()``, the shortest that does, so the same layout runs at any
    length; at 1000 bp nothing is padded and the layout, parameters and FLOPs are DeepSEA's.
    """

    seq_len: int = 1000
    channels: tuple[int, ...] = (320, 480, 960)
    kernel_size: int = 8
    pool_size: int = 4
    dropout: float = 0.2
    batch_norm: bool = True

    def __post_init__(self) -> None:
        self.channels = tuple(self.channels)
        _positive_int(self, "seq_len", "kernel_size", "pool_size")
        _probability(self, "dropout")
        if not self.channels or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in self.channels):
            _fail(self, "channels", f"must be a non-empty tuple of positive integers; got {self.channels!r}")
        if self.seq_len < self.kernel_size:
            _fail(self, "seq_len", f"({self.seq_len}) is shorter than one convolution kernel ({self.kernel_size} bp)")

    def min_length(self) -> int:
        """The shortest input that leaves one position after the last conv + pool."""
        length = 1
        for _ in self.channels:
            length = length * self.pool_size + self.kernel_size - 1
        return length

    def padded_length(self) -> int:
        """The length the stack reads: ``seq_len``, or ``min_length()`` for shorter inputs."""
        return max(self.seq_len, self.min_length())

    def output_length(self) -> int:
        """Positions left after every conv + pool (floor pooling, as nn.MaxPool1d)."""
        length = self.padded_length()
        for _ in self.channels:
            length = length - self.kernel_size + 1
            if length < 1:
                return 0
            length = length // self.pool_size
        return length


@dataclass
class CNNFCConfig:
    """``cnn_fc``: conv stack -> flatten -> FC (+ReLU, dropout) = representation -> head."""

    conv: ConvStackConfig = field(default_factory=ConvStackConfig)
    fc_size: int = 925
    fc_dropout: float = 0.5
    head: HeadConfig = field(default_factory=HeadConfig)
    compile: bool = False

    def __post_init__(self) -> None:
        _check_parts(self)
        _positive_int(self, "fc_size")
        _probability(self, "fc_dropout")


@dataclass
class CNNLSTMConfig:
    """``cnn_lstm``: conv stack -> bidirectional LSTM; final states of both directions = representation."""

    conv: ConvStackConfig = field(default_factory=ConvStackConfig)
    lstm_hidden: int = 320
    lstm_layers: int = 1
    lstm_dropout: float = 0.0
    head: HeadConfig = field(default_factory=HeadConfig)
    compile: bool = False

    def __post_init__(self) -> None:
        _check_parts(self)
        _positive_int(self, "lstm_hidden", "lstm_layers")
        _probability(self, "lstm_dropout")


ModelConfig = Union[TransformerConfig, CNNFCConfig, CNNLSTMConfig]


def _check_parts(obj: object) -> None:
    """Sub-configs must be their dataclass (dicts from JSON are converted by config_from_dict)."""
    hints = get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        hint = hints[f.name]
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(hint) and not isinstance(value, hint):
            _fail(obj, f.name, f"must be a {hint.__name__}; got {type(value).__name__}")
    if not isinstance(getattr(obj, "compile", False), bool):
        _fail(obj, "compile", f"must be a bool; got {getattr(obj, 'compile')!r}")


# ----------------------------------------------------------------------------- (de)serialisation


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain JSON-able dict (tuples become lists)."""
    return dataclasses.asdict(config)


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin = get_origin(hint)
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, dict):
            raise ValueError(f"{where} must be a mapping for {hint.__name__}; got {type(value).__name__}")
        return config_from_dict(hint, value, where)
    if origin is Union:  # Optional[X]
        if value is None:
            return None
        inner = [a for a in get_args(hint) if a is not type(None)]
        return _convert(inner[0], value, where) if len(inner) == 1 else value
    if origin is tuple and isinstance(value, (list, tuple)):
        return tuple(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def config_from_dict(cls: type, data: dict[str, Any], where: str | None = None) -> Any:
    """Rebuild a (nested) config dataclass from a dict; unknown keys are an error."""
    where = where or cls.__name__
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(map(repr, unknown))} for {cls.__name__}; valid: {', '.join(sorted(names))}")
    kwargs = {key: _convert(hints[key], value, f"{where}.{key}") for key, value in data.items()}
    return cls(**kwargs)


def flat_fields(cls: type) -> dict[str, tuple[str, ...]]:
    """Field name -> path inside a nested config, for ``build_model(name, **flat_kwargs)``."""
    out: dict[str, tuple[str, ...]] = {}
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            for sub, path in flat_fields(hint).items():
                out.setdefault(sub, (f.name, *path))
        out[f.name] = (f.name,)
    return out


def config_with(cls: type, base: Any | None = None, **kwargs: Any) -> Any:
    """``base`` (or the defaults) with flat overrides routed into the parts they belong to.

    ``config_with(TransformerConfig, tokenizer="kmer", hidden_size=64, num_outputs=3)`` sets
    ``frontend.tokenizer``, ``encoder.hidden_size`` and ``head.num_outputs``. A part may also
    be given whole (``head=HeadConfig(...)`` or a dict).
    """
    data = config_to_dict(base) if base is not None else {}
    if base is not None and not isinstance(base, cls):
        raise TypeError(f"expected a {cls.__name__}, got {type(base).__name__}")
    routes = flat_fields(cls)
    unknown = sorted(set(kwargs) - set(routes))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for {cls.__name__}; valid: {', '.join(sorted(routes))}"
        )
    for key, value in kwargs.items():
        path = routes[key]
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = config_to_dict(value)
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
        if path[-1] in node and isinstance(node[path[-1]], dict) and isinstance(value, dict):
            node[path[-1]] = {**node[path[-1]], **value}
        else:
            node[path[-1]] = value
    # A front end re-derives k / vocab / kernel from its tokenizer kind unless they were given.
    fe = data.get("frontend")
    base_fe = getattr(base, "frontend", None)
    if isinstance(fe, dict) and base_fe is not None and fe.get("tokenizer") != base_fe.tokenizer:
        for derived in ("k", "stride", "vocab_size", "conv_kernel"):
            if derived not in kwargs:
                fe[derived] = None
    return config_from_dict(cls, data)


__all__ = [
    "CNNFCConfig",
    "CNNLSTMConfig",
    "ConvStackConfig",
    "EncoderConfig",
    "FFNActivation",
    "FrontendConfig",
    "HeadActivation",
    "HeadConfig",
    "ModelConfig",
    "OutputKind",
    "POSITIONS",
    "PositionKind",
    "RelativeImpl",
    "TokenizerKind",
    "TransformerConfig",
    "config_from_dict",
    "config_to_dict",
    "config_with",
]
