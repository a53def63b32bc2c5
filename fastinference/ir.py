"""The intermediate representation: typed layers holding numpy tensors, in a list in
topological order (a chain, or a dataflow graph with forks and joins).

Graph: each layer may name its inputs (``inputs``: layer names, or ``INPUT`` for the network
input); ``None`` means the previous layer in the list (the network input for the first), so a
chain has ``inputs`` None everywhere. A fork is a tensor read by several layers (no layer of
its own); a join (``Join``: Add or channel Concat of two tensors) has two inputs. The last
layer in the list is the network's output. ``Model.is_chain`` tells a chain from a graph.

Two levels live in one list type:

* **float ops** (what the frontend reads from ONNX): ``Gemm``, ``Conv``, ``Affine``,
  ``SignAct``, ``Relu``, ``MaxPool``, ``Flatten``, ``Softmax``, ``Identity``.
* **hardware ops** (what the passes lower to, and what the reference model and every
  backend implement): ``BinaryDense``, ``BinaryConv``, ``BinaryMaxPool``, ``IntMaxPool``.

Shapes never include the batch dimension: ``(F,)`` for vectors, ``(C, H, W)`` for images.

Bit encoding of a binary activation: bit 1 means +1, bit 0 means -1. The product of a binary
input and a +-1 weight is +1 exactly when the two bits are equal (XNOR), so a binary layer's
accumulator is ``acc = 2 * popcount(xnor(x, w)) - K``.

Thresholds live in the accumulator (``acc``) domain: channel ``j`` outputs bit 1 iff
``acc >= thresholds[j]`` when ``directions[j] == +1``, or iff ``acc <= thresholds[j]`` when
``directions[j] == -1``. Constant channels use a threshold outside the reachable range.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .quant import QuantSpec


@dataclass
class Layer:
    """Common fields: a unique identifier-safe name, the ONNX nodes it came from, shapes."""

    name: str
    source_nodes: list[str]
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    # producers by layer name (INPUT: the network input); None: the previous layer in the list
    inputs: Optional[list[str]] = None

    kind = "layer"
    is_hardware = False

    def copy(self) -> "Layer":
        return dataclasses.replace(self)


# --------------------------------------------------------------------------- float ops
@dataclass
class Gemm(Layer):
    """y = W @ x + b with float weights W (M, K) and optional bias b (M,)."""

    weights: np.ndarray = None
    bias: Optional[np.ndarray] = None
    wq: Optional[dict] = None  # quantized weights (QONNX): see ``Conv.wq``
    kind = "gemm"


@dataclass
class Conv(Layer):
    """2-D convolution, float weights (M, C, kh, kw), pads (top, left, bottom, right)."""

    weights: np.ndarray = None
    bias: Optional[np.ndarray] = None
    stride: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    # quantized weights (a QONNX Quant/BipolarQuant on the weight): {"q": int64 like weights,
    # "row_scale": float32 (M,), "bits": signed bit width (1: bipolar +-1), "bipolar": bool};
    # weights == q * row_scale exactly
    wq: Optional[dict] = None
    kind = "conv"


@dataclass
class Affine(Layer):
    """Per-channel float32 steps applied in order, exactly as onnxruntime evaluates them.

    ``steps`` is a list of ``(op, vector)`` with op in ``add``, ``mul``, ``div``, ``relu``, or
    ``muladd`` (vector = (a, c) pair: ``a*y + c`` with one rounding, onnxruntime's fused Gemm
    alpha + bias); vectors have one entry per channel (axis 0 of the shape). BatchNormalization becomes
    ``[("mul", new_scale), ("add", new_bias)]`` with onnxruntime's float32 fusion.
    """

    steps: list[tuple[str, np.ndarray]] = field(default_factory=list)
    kind = "affine"


@dataclass
class SignAct(Layer):
    """Binary activation to +-1. ``mode``: ``"gt"`` +1 iff x > 0 (Greater -> Where(1, -1), the
    seed's form), ``"ge"`` +1 iff x >= 0, ``"sign"`` ONNX Sign (0 at x == 0: an error if
    reachable)."""

    mode: str = "gt"
    scale: float = 1.0  # the +-1 output stands for +-scale (a QONNX BipolarQuant's scale)
    kind = "sign"


@dataclass
class QuantAct(Layer):
    """A QONNX activation quantizer (``Quant`` on the data path, or a ``MultiThreshold``):
    integers ``q`` in ``spec.qmin..spec.qmax`` standing for ``q * spec.scale`` (per-tensor
    scale, zero point 0). ``spec.to_int(y)`` is the quantizer's integer for float y."""

    spec: Optional[object] = None  # quant.QuantSpec or quant.ThresholdSpec
    in_unit: Optional[float] = None  # set by binarize on a requantizer of integers: their unit
    kind = "quant"


@dataclass
class Relu(Layer):
    kind = "relu"


@dataclass
class MaxPool(Layer):
    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    kind = "maxpool"


@dataclass
class Flatten(Layer):
    """(C, H, W) -> (C*H*W,) in ONNX (NCHW) order."""

    kind = "flatten"


@dataclass
class Softmax(Layer):
    log: bool = False
    kind = "softmax"


@dataclass
class AvgPool(Layer):
    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    kind = "avgpool"


@dataclass
class Identity(Layer):
    kind = "identity"


@dataclass
class Join(Layer):
    """Two tensors joined: ``op`` ``"add"`` (ONNX Add of two data tensors of one shape, float32)
    or ``"concat"`` (ONNX Concat on the channel axis, axis 0 of the unbatched shape).
    ``in_units`` (set by the binarize pass): the float value of one integer unit of each
    input (1.0 for plain BNN exports), None while unknown or not integer."""

    op: str = "add"
    in_units: Optional[list] = None
    kind = "join"


# ------------------------------------------------------------------------ hardware ops
@dataclass
class BinaryLayer(Layer):
    """A matrix-vector(-threshold) unit with +-1 weights.

    ``weights``: int8 in {-1, +1}. ``input_kind``: ``"int"`` (the first layer: integers of
    ``input_bits`` bits, signed or not) or ``"binary"`` (bits, 1 = +1).
    With ``thresholds`` set the layer emits bits; without, it emits integer scores
    ``acc + bias`` (the last layer).

    The general matrix-vector-activation unit (MVAU) is the same class: ``weight_bits`` > 1
    means signed integer weights of that width (1: +-1), an ``"int"`` input of any bit width,
    and ``thresholds`` of shape (M, N) for a multi-level output: channel j outputs
    ``out_offset + #{i: acc >= T[j, i]}`` (direction +1) or ``#{i: acc <= T[j, i]}`` (-1), an
    ``out_bits``-bit integer (two's complement if ``out_signed``); each row of T ascending
    (+1) or descending (-1).
    """

    weights: np.ndarray = None
    input_kind: str = "binary"
    input_bits: int = 1
    input_signed: bool = False
    thresholds: Optional[np.ndarray] = None  # int64 (M,)
    directions: Optional[np.ndarray] = None  # int8 (M,), +1: acc >= T, -1: acc <= T
    bias: Optional[np.ndarray] = None  # int64 (M,), only for score layers
    weight_bits: int = 1
    out_bits: int = 1
    out_signed: bool = False
    out_offset: int = 0
    is_hardware = True

    @property
    def output_kind(self) -> str:
        """``scores`` (integers acc + bias), ``bits`` (+-1 as 1/0) or ``int`` (multi-threshold)."""
        if self.thresholds is None:
            return "scores"
        return "bits" if np.ndim(self.thresholds) == 1 else "int"

    @property
    def is_binary(self) -> bool:
        """+-1 weights and +-1 inputs: the XNOR-popcount unit."""
        return self.weight_bits == 1 and self.input_kind == "binary"

    @property
    def M(self) -> int:
        return int(self.weights.shape[0])

    @property
    def K(self) -> int:
        """Inputs per output (fan-in)."""
        return int(np.prod(self.weights.shape[1:]))

    @property
    def V(self) -> int:
        """Output pixels (1 for dense)."""
        return 1

    @property
    def emits_scores(self) -> bool:
        return self.thresholds is None

    def input_range(self) -> tuple[int, int]:
        """Smallest and largest input value."""
        if self.input_kind == "binary":
            return -1, 1
        if self.input_signed:
            return -(1 << (self.input_bits - 1)), (1 << (self.input_bits - 1)) - 1
        return 0, (1 << self.input_bits) - 1

    def acc_range(self) -> tuple[int, int]:
        """Reachable accumulator range (before bias), over all inputs."""
        lo, hi = self.input_range()
        if self.weight_bits > 1:  # exact per-row bounds of sum_k w_k x_k over the input box
            w = self.weights.reshape(self.M, -1).astype(np.int64)
            hi_r = np.maximum(w * lo, w * hi).sum(axis=1)
            lo_r = np.minimum(w * lo, w * hi).sum(axis=1)
            return int(lo_r.min()), int(hi_r.max())
        m = max(abs(lo), abs(hi))
        if self.input_kind == "binary" or self.input_signed:
            return -self.K * m, self.K * m
        # unsigned inputs: per-row sums of positive / negative weights bound the range
        pos = (self.weights.reshape(self.M, -1) > 0).sum(axis=1)
        neg = self.K - pos
        return -int(neg.max()) * hi, int(pos.max()) * hi


@dataclass
class BinaryDense(BinaryLayer):
    """weights (M, K); input (K,) in ONNX order (NCHW order after a flatten)."""

    @property
    def kind(self) -> str:  # +-1 weights: the binarized unit; else a W-bit MVAU
        return "binary_dense" if self.weight_bits == 1 else "mvau_dense"


@dataclass
class BinaryConv(BinaryLayer):
    """weights (M, C, kh, kw); zero padding only for integer inputs (0 contributes 0)."""

    stride: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)

    @property
    def kind(self) -> str:
        return "binary_conv" if self.weight_bits == 1 else "mvau_conv"

    @property
    def kernel(self) -> tuple[int, int]:
        return int(self.weights.shape[2]), int(self.weights.shape[3])

    @property
    def V(self) -> int:
        return int(self.out_shape[1] * self.out_shape[2])


@dataclass
class BinaryMaxPool(Layer):
    """Max pooling of bits: OR over the window (+1 wins). ``and_channels`` (bool per channel)
    marks channels whose pool was before a decreasing threshold: those take AND."""

    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    and_channels: Optional[np.ndarray] = None
    kind = "binary_maxpool"
    is_hardware = True


@dataclass
class IntMaxPool(Layer):
    """Max pooling of integers (a MaxPool on the network input): out = max over the window,
    per channel. Input and output are ``bits``-bit integers, two's complement if ``signed``
    (the network input's format, unchanged by a max). ``kernel`` (kh, kw) and ``stride``
    (sh, sw) are any positive sizes; no padding (ONNX pads a MaxPool with -inf)."""

    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    bits: int = 8
    signed: bool = False
    kind = "int_maxpool"
    is_hardware = True


@dataclass(frozen=True)
class Stream:
    """What flows on a tensor in hardware: ``bits`` (1 = +1, 0 = -1: value range -1..1) or
    ``int`` (integers lo..hi, ``bits`` wide, two's complement if ``signed``)."""

    kind: str
    lo: int
    hi: int

    @property
    def bits(self) -> int:
        if self.kind == "bits":
            return 1
        return int_bits(self.lo, self.hi)[0]

    @property
    def signed(self) -> bool:
        return self.kind == "bits" or self.lo < 0


def signed_bits(lo: int, hi: int) -> int:
    """Bits of the narrowest two's complement integer holding lo..hi (the one place this
    width is computed: passes, report, and both backends call it)."""
    w = 1
    while not (-(1 << (w - 1)) <= lo and hi <= (1 << (w - 1)) - 1):
        w += 1
    return w


def int_bits(lo: int, hi: int) -> tuple[int, bool]:
    """(bits, signed) of the narrowest integer holding lo..hi (unsigned when lo >= 0)."""
    if lo >= 0:
        return max(1, int(hi).bit_length()), False
    return signed_bits(lo, hi), True


@dataclass
class AddJoin(Layer):
    """Element-wise integer add of two streams of one shape: ``out = v(a) + v(b)`` where a
    ``bits`` input counts as -1/+1 and an ``int`` input as its integer (an accumulator, the
    network input, a quantized activation, another join). ``in_streams``: the two input
    ``Stream``s (their ranges give the output range). The output is an ``int`` stream (its
    range: ``out_range``): a ``Threshold`` follows it, another join, or it gives the scores."""

    in_streams: tuple = ()
    unit: float = 1.0  # the float value of one integer unit of the sum in the source model
    kind = "add_join"
    is_hardware = True

    @property
    def out_range(self) -> tuple[int, int]:
        return (sum(s.lo for s in self.in_streams), sum(s.hi for s in self.in_streams))

    @property
    def out_stream(self) -> Stream:
        return Stream("int", *self.out_range)


@dataclass
class ConcatJoin(Layer):
    """Channel concat of two streams (axis 0 of the unbatched shape: channels of a (C, H, W)
    image, or the features of a vector): the first input's channels, then the second's. Both
    inputs carry the same kind (``bits``, or ``int`` with a common range in ``out_stream``)."""

    in_streams: tuple = ()
    kind = "concat_join"
    is_hardware = True

    @property
    def out_stream(self) -> Stream:
        a, b = self.in_streams
        return Stream(a.kind, min(a.lo, b.lo), max(a.hi, b.hi))


@dataclass
class Threshold(Layer):
    """The activation unit alone, on an integer stream (after an ``AddJoin``): per channel
    (axis 0) the same rule as a ``BinaryLayer``'s thresholds. ``thresholds`` (M,) with
    ``directions``: bit 1 iff ``x >= T`` (+1) or ``x <= T`` (-1); or (M, N) for a multi-level
    output ``out_offset + #{i: x >= T[j, i]}`` (``out_bits``, ``out_signed``). ``in_stream``:
    the integer input (its range)."""

    in_stream: Optional[Stream] = None
    thresholds: Optional[np.ndarray] = None
    directions: Optional[np.ndarray] = None
    out_bits: int = 1
    out_signed: bool = False
    out_offset: int = 0
    kind = "threshold"
    is_hardware = True

    @property
    def M(self) -> int:
        return int(self.out_shape[0])

    @property
    def output_kind(self) -> str:
        return "bits" if np.ndim(self.thresholds) == 1 else "int"


HARDWARE_KINDS = (BinaryDense, BinaryConv, BinaryMaxPool, IntMaxPool, AddJoin, ConcatJoin, Threshold)
INPUT = "<input>"  # the network input, as a layer's input name


@dataclass
class Model:
    """A chain of layers plus the input format the hardware takes."""

    name: str
    layers: list[Layer]
    input_shape: tuple[int, ...]
    input_bits: int = 8
    input_signed: bool = False
    source_path: str = ""
    opset: int = 0
    producer: str = ""
    # QONNX: the Quant on the graph input (the hardware takes its integers; predict quantizes
    # float inputs with it), and the float value of one score unit per class
    input_quant: Optional[QuantSpec] = None
    output_scale: Optional[np.ndarray] = None

    def copy(self) -> "Model":
        return dataclasses.replace(self, layers=[dataclasses.replace(l) for l in self.layers])

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.layers[-1].out_shape if self.layers else self.input_shape

    @property
    def num_classes(self) -> int:
        return int(np.prod(self.output_shape))

    @property
    def is_lowered(self) -> bool:
        return all(l.is_hardware for l in self.layers)

    def compute_layers(self) -> list[BinaryLayer]:
        return [l for l in self.layers if isinstance(l, BinaryLayer)]

    # ------------------------------------------------------------------ the graph
    def inputs_of(self, i: int) -> list[str]:
        """The producers of layer ``i`` (layer names, or ``INPUT``)."""
        l = self.layers[i]
        if l.inputs is not None:
            return list(l.inputs)
        return [self.layers[i - 1].name] if i > 0 else [INPUT]

    @property
    def is_chain(self) -> bool:
        """Every layer reads the one before it (the first: the network input)."""
        return all(self.inputs_of(i) == ([self.layers[i - 1].name] if i else [INPUT])
                   for i in range(len(self.layers)))

    def producers(self) -> dict[str, list[str]]:
        """Layer name -> the names it reads (``INPUT`` for the network input)."""
        return {l.name: self.inputs_of(i) for i, l in enumerate(self.layers)}

    def consumers(self) -> dict[str, list[str]]:
        """Layer name (and ``INPUT``) -> the layers that read it, in list order (a layer that
        reads a tensor twice is listed twice)."""
        out: dict[str, list[str]] = {INPUT: []}
        for l in self.layers:
            out[l.name] = []
        for i, l in enumerate(self.layers):
            for p in self.inputs_of(i):
                out.setdefault(p, []).append(l.name)
        return out

    def layer(self, name: str) -> Layer:
        for l in self.layers:
            if l.name == name:
                return l
        raise KeyError(name)

    def check_graph(self) -> None:
        """The list is a graph the hardware can stream: unique names, every input defined
        before it is read (topological order, so no cycle), and every layer but the last
        read by a later one (one output, at the end). Raises ValueError naming the layer."""
        seen = {INPUT}
        for i, l in enumerate(self.layers):
            if l.name in seen:
                raise ValueError(f"layer '{l.name}' is defined twice")
            for p in self.inputs_of(i):
                if p not in seen:
                    raise ValueError(f"layer '{l.name}' reads '{p}', which is not computed before it")
            seen.add(l.name)
        cons = self.consumers()
        for l in self.layers[:-1]:
            if not cons[l.name]:
                raise ValueError(f"layer '{l.name}' is read by no layer (the output is the last layer)")

    def explicit(self) -> "Model":
        """A copy whose every layer names its inputs."""
        m = self.copy()
        for i, l in enumerate(m.layers):
            l.inputs = self.inputs_of(i)
        return m

    def compact(self) -> "Model":
        """A copy where ``inputs`` is None wherever it is the default (the previous layer):
        a chain comes out with ``inputs`` None everywhere."""
        m = self.copy()
        for i, l in enumerate(m.layers):
            default = [m.layers[i - 1].name] if i else [INPUT]
            if l.inputs is not None and list(l.inputs) == default:
                l.inputs = None
        return m
