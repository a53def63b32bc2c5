"""QONNX: the quantizer ops Brevitas exports (``Quant``, ``BipolarQuant``, ``Trunc``,
``MultiThreshold``) and the clean-up that makes its three export forms one graph.

A QONNX file first goes through qonnx's own ``cleanup_model`` (shape inference, constant
folding that keeps the quantizers, transposes folded into the weight quantizers, readable
names): the dynamo export, the TorchScript export and an already cleaned file then read the
same. The reader (``onnx_reader._Reader``) mixes in ``QonnxOps``:

* a ``Quant``/``BipolarQuant`` on a constant (weights) is folded to its float output, and the
  integers it came from are remembered (``self.quantized``), so that the Gemm/MatMul/Conv
  reading it gets integer weights and a scale per output row;
* a ``Quant`` right on the graph input is the hardware's input format (``input_quant``): the
  hardware takes its integers, ``predict`` quantizes float inputs with it;
* a ``Quant`` elsewhere on the data path is an activation quantizer (``QuantAct``), a
  ``BipolarQuant`` there a sign (``SignAct`` ``ge``, zero maps to +1) with a scale.
"""
from __future__ import annotations

import re

import numpy as np
import onnx

from ..errors import UnsupportedModelError
from ..quant import ROUNDING_MODES, QuantSpec, ThresholdSpec, bipolar

QONNX_DOMAINS = ("qonnx.custom_op.general", "finn.custom_op.general", "onnx.brevitas", "finn")
QONNX_OPS = ("Quant", "IntQuant", "BipolarQuant", "Trunc", "MultiThreshold")
MAX_BITS = 8  # weights and activations the hardware holds


def is_qonnx(model: onnx.ModelProto) -> bool:
    return any(n.domain in QONNX_DOMAINS or (n.op_type in QONNX_OPS and n.domain not in ("", "ai.onnx"))
               for n in model.graph.node)


def clean_qonnx(model: onnx.ModelProto) -> onnx.ModelProto:
    """qonnx's cleanup (``qonnx.util.cleanup.cleanup_model``, what ``qonnx-cleanup`` runs), in
    memory, without its renaming steps: errors and reports name the nodes as the file does."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.general import (GiveUniqueParameterTensors, RemoveStaticGraphInputs,
                                              RemoveUnusedTensors)
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.transformation.quant_constant_folding import FoldTransposeIntoQuantInit
    for n in model.graph.node:  # as cleanup_model: the quantizers' domain, spelled one way
        if n.op_type in ("Quant", "Trunc", "BipolarQuant") and n.domain in QONNX_DOMAINS:
            n.domain = "qonnx.custom_op.general"
    steps = [InferShapes(), GiveUniqueParameterTensors(),
             FoldConstants(exclude_op_types=["Quant", "BipolarQuant", "QuantizeLinear", "DequantizeLinear"]),
             FoldTransposeIntoQuantInit(), RemoveUnusedTensors(), RemoveStaticGraphInputs()]
    try:
        w = ModelWrapper(model)
        for t in steps:
            w = w.transform(t)
        return w.model
    except Exception as e:  # a graph qonnx cannot even clean is not one we can read
        text = " ".join(str(e).split())[:160] or type(e).__name__
        raise UnsupportedModelError(f"qonnx cannot clean up this QONNX graph ({text}); export it again with "
                                    "brevitas.export.export_qonnx") from None


class QonnxOps:
    """Mixed into the ONNX reader: handlers of the QONNX quantizer ops."""

    # ------------------------------------------------------------ shared helpers
    def _quant_spec(self, node, idx) -> QuantSpec:
        a = self.attrs(node)
        if len(node.input) != 4 or not all(node.input):
            raise self.err(node, idx, "Quant needs 4 inputs (x, scale, zero point, bit width)")
        scale, zp, bits = (np.asarray(self.const(t, node, idx)) for t in node.input[1:4])
        mode = a.get("rounding_mode", b"ROUND")
        mode = mode.decode() if isinstance(mode, bytes) else str(mode)
        if mode.upper() not in ROUNDING_MODES:
            raise self.err(node, idx, f"rounding_mode '{mode}' is unknown; supported: {', '.join(ROUNDING_MODES)}")
        if bits.size != 1 or float(bits.reshape(-1)[0]) != int(bits.reshape(-1)[0]) or not 1 <= int(bits.reshape(-1)[0]) <= 32:
            raise self.err(node, idx, f"bit width {bits.reshape(-1)[:4].tolist()} must be one integer in 1..32")
        if np.any(zp != 0):
            raise self.err(node, idx, "zero point is not 0; the hardware needs symmetric quantization "
                                      "(re-export with a zero point of 0, e.g. Brevitas' default Int quantizers)")
        if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise self.err(node, idx, "scale must be finite and positive")
        return QuantSpec(scale=scale.astype(np.float32), zero_point=0.0, bits=int(bits.reshape(-1)[0]),
                         signed=bool(a.get("signed", 1)), narrow=bool(a.get("narrow", 0)), rounding=mode.upper())

    def _bipolar_scale(self, node, idx) -> np.ndarray:
        if len(node.input) != 2 or not all(node.input):
            raise self.err(node, idx, "BipolarQuant needs 2 inputs (x, scale)")
        scale = np.asarray(self.const(node.input[1], node, idx)).astype(np.float32)
        if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise self.err(node, idx, "scale must be finite and positive")
        return scale

    def fold_qonnx(self, node, idx) -> None:
        """A quantizer on constants (weights, biases): its float output as a constant, and
        the integers and scale it came from in ``self.quantized``."""
        op = node.op_type
        x = np.asarray(self.consts[node.input[0]], dtype=np.float32)
        if op in ("Quant", "IntQuant"):
            spec = self._quant_spec(node, idx)
            if spec.bits == 1 and spec.signed:
                q = bipolar(x / spec.scale)
            else:
                q = spec.to_int(x)
            self.consts[node.output[0]] = spec.dequant(q)
            self.quantized[node.output[0]] = (q, spec.scale, spec.bits, spec.signed, spec.bits == 1 and spec.signed)
        elif op == "BipolarQuant":
            scale = self._bipolar_scale(node, idx)
            q = bipolar(x)
            self.consts[node.output[0]] = (q.astype(np.float32) * scale).astype(np.float32)
            self.quantized[node.output[0]] = (q, scale, 1, True, True)
        else:
            raise self.err(node, idx, f"{op} on constants is not supported")

    def weight_quant(self, node, idx, name: str, layout) -> dict | None:
        """The integer form of a quantized weight tensor, in the layer's (M, ...) layout:
        ``layout`` maps the ONNX tensor to it (a transpose for MatMul/Gemm). Returns None for
        a plain float weight."""
        if name not in self.quantized:
            return None
        q, scale, bits, signed, is_bipolar = self.quantized[name]
        try:
            full = np.broadcast_to(np.asarray(scale, dtype=np.float32), np.asarray(q).shape)
        except ValueError:
            raise self.err(node, idx, f"weight scale of shape {np.asarray(scale).shape} does not broadcast to "
                                      f"the weights {np.asarray(q).shape}") from None
        q = np.ascontiguousarray(layout(q))
        s = np.ascontiguousarray(layout(full))
        rows = s.reshape(s.shape[0], -1)
        if not np.all(rows == rows[:, :1]):
            raise self.err(node, idx, "the weight scale varies inside an output row; per-tensor or per-output-"
                                      "channel weight scales are supported")
        wbits = bits if signed else bits + 1  # unsigned weights held as signed integers
        if not is_bipolar and wbits > MAX_BITS:
            raise self.err(node, idx, f"weights of {bits} bits: the hardware holds at most {MAX_BITS}; use a "
                                      f"weight bit width <= {MAX_BITS}")
        return {"q": q.astype(np.int64), "row_scale": rows[:, 0].astype(np.float32),
                "bits": 1 if is_bipolar else wbits, "bipolar": is_bipolar}

    # ------------------------------------------------------------ data-path ops
    def op_Quant(self, node, idx, x, shape):
        from ..ir import QuantAct, SignAct
        spec = self._quant_spec(node, idx)
        if spec.scale.size != 1:
            raise self.err(node, idx, "a per-channel activation scale is not supported; quantize activations "
                                      "per tensor")
        spec = QuantSpec(scale=np.float32(spec.scale.reshape(-1)[0]), zero_point=0.0, bits=spec.bits,
                         signed=spec.signed, narrow=spec.narrow, rounding=spec.rounding)
        label = self.label(node, idx)
        if spec.bits == 1 and spec.signed:  # qonnx: a signed 1-bit Quant is bipolar (x/s >= 0 -> +1)
            self.add(SignAct, [label], shape, shape, mode="ge", scale=float(spec.scale))
            return node.output[0], shape
        if spec.bits > MAX_BITS:
            raise self.err(node, idx, f"activations of {spec.bits} bits: the hardware holds at most {MAX_BITS}; "
                                      f"use an activation bit width <= {MAX_BITS}")
        if x == self.graph_input and not self.layers and self.input_quant is None:
            self.input_quant = spec  # the hardware's input format: its integers
            return node.output[0], shape
        self.add(QuantAct, [label], shape, shape, spec=spec)
        return node.output[0], shape

    op_IntQuant = op_Quant

    def op_BipolarQuant(self, node, idx, x, shape):
        from ..ir import SignAct
        scale = self._bipolar_scale(node, idx)
        if scale.size != 1:
            raise self.err(node, idx, "a per-channel BipolarQuant scale on activations is not supported")
        self.add(SignAct, [self.label(node, idx)], shape, shape, mode="ge", scale=float(scale.reshape(-1)[0]))
        return node.output[0], shape

    def op_Trunc(self, node, idx, x, shape):
        raise self.err(node, idx, "Trunc (a quantized average pool) is not supported yet; use MaxPool in the "
                                  "network")

    def op_MultiThreshold(self, node, idx, x, shape):
        """``out_scale * #{i: x >= T[c, i]} + out_bias`` per channel (axis 0 of the data):
        an activation quantizer whose integers are the count plus out_bias / out_scale."""
        from ..ir import QuantAct
        a = self.attrs(node)
        if len(node.input) != 2 or not all(node.input):
            raise self.err(node, idx, "MultiThreshold needs 2 inputs (x, thresholds)")
        layout = a.get("data_layout", b"")
        layout = layout.decode() if isinstance(layout, bytes) else str(layout)
        if layout not in ("", "NCHW", "NC"):
            raise self.err(node, idx, f"data_layout '{layout}' is not supported (only NCHW / NC)")
        T = np.asarray(self.const(node.input[1], node, idx), dtype=np.float32)
        C = shape[0]
        if T.ndim != 2 or T.shape[0] not in (1, C) or T.shape[1] < 1 or not np.all(np.isfinite(T)):
            raise self.err(node, idx, f"thresholds of shape {T.shape}: (C={C} or 1, N) finite values expected")
        T = np.sort(np.broadcast_to(T, (C, T.shape[1])), axis=1)
        scale, bias = float(a.get("out_scale", 1.0)), float(a.get("out_bias", 0.0))
        dt = a.get("out_dtype", b"")
        dt = (dt.decode() if isinstance(dt, bytes) else str(dt)).upper()
        m = re.fullmatch(r"(U?)INT(\d+)", dt)
        if not m or not scale > 0 or bias / scale != round(bias / scale):
            raise self.err(node, idx, f"out_dtype '{dt}', out_scale {scale:g}, out_bias {bias:g}: supported "
                                      "are UINTn/INTn outputs with out_scale > 0 and out_bias a whole "
                                      "multiple of out_scale")
        bits, signed, qmin = int(m.group(2)), not m.group(1), int(round(bias / scale))
        if bits > MAX_BITS:
            raise self.err(node, idx, f"activations of {bits} bits: use an activation bit width <= {MAX_BITS}")
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        if not (lo <= qmin and qmin + T.shape[1] <= hi):
            raise self.err(node, idx, f"{T.shape[1]} thresholds from {qmin} do not fit out_dtype {dt}")
        spec = ThresholdSpec(thresholds=np.ascontiguousarray(T), scale=scale, qmin=qmin, bits=bits, signed=signed)
        self.add(QuantAct, [self.label(node, idx)], shape, shape, spec=spec)
        return node.output[0], shape
