"""The Python API: ``fastinference.load(path)`` -> a ``Network`` with ``.layers``, ``.predict``."""
from __future__ import annotations

import numpy as np

from .errors import BadOptionError
from .frontend.onnx_reader import read_model
from .ir import Layer, Model
from .passes import lower
from . import reference


class Network:
    """A lowered network: the hardware layers and the bit-exact reference model."""

    def __init__(self, model: Model, source: Model, ptq=None, float_source: Model | None = None):
        self.model = model
        self.source = source  # the float-op chain read from ONNX (quantized by PTQ), before the passes
        self.ptq = ptq  # ptq.PTQResult for a float model quantized post-training, else None
        self.float_source = float_source  # the float chain as read (PTQ only)

    @property
    def layers(self) -> list[Layer]:
        return self.model.layers

    @property
    def name(self) -> str:
        return self.model.name

    def predict(self, x) -> np.ndarray:
        """Integer scores (N, classes), int64: what the source network feeds its final softmax."""
        return reference.run(self.model, x)

    def check_input(self, x) -> np.ndarray:
        return reference.check_input(self.model, x)

    def __repr__(self) -> str:
        return f"Network({self.name!r}, {len(self.layers)} layers, input {self.model.input_shape})"


def load(path: str, input_bits: int = 8, input_signed: bool = False, ptq=None) -> Network:
    """Read an ONNX file and lower it for hardware whose input is ``input_bits``-bit integers.

    A plain float model (weights of many magnitudes) is quantized post-training first: give
    ``ptq`` (a ``fastinference.ptq.PTQConfig``, or a dict of its fields: ``calibration`` (array
    or .npy path), ``weight_bits``, ``act_bits`` (int or "auto"), ``precision``,
    ``calib_percentile``, ``min_agreement``); ``Network.ptq`` then holds the chosen bits, the
    measured errors and the agreement with the float model on the calibration rows."""
    if not isinstance(input_bits, int) or isinstance(input_bits, bool) or not 1 <= input_bits <= 32:
        raise BadOptionError(f"--input-bits must be an integer in 1..32, got {input_bits!r}")
    if input_signed and input_bits < 2:
        raise BadOptionError("--input-signed needs --input-bits of at least 2")
    source = read_model(str(path))
    source.input_bits, source.input_signed = input_bits, bool(input_signed)
    if source.input_quant is not None:  # QONNX: the Quant on the input sets the hardware's format
        source.input_bits, source.input_signed = source.input_quant.bits, source.input_quant.signed
    from . import ptq as _ptq
    if _ptq.is_float_model(source) and not source.is_chain:
        from .errors import UnsupportedModelError
        raise UnsupportedModelError(f"{path}: post-training quantization of a network with skip connections "
                                    "is not supported; binarize or quantize (QONNX) it when training")
    if _ptq.is_float_model(source):
        cfg = ptq if isinstance(ptq, _ptq.PTQConfig) else _ptq.PTQConfig(**(ptq or {}))
        if cfg.calibration is None:
            raise BadOptionError(_ptq.need_calibration_message(str(path)))
        res = _ptq.run_ptq(source, cfg)
        return Network(lower(res.model.copy()), res.model, ptq=res, float_source=source)
    return Network(lower(source.copy()), source)
