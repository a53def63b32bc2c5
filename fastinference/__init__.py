"""fastinference: ONNX binarized neural networks to bit-exact HLS C++ and SystemVerilog."""
__version__ = "0.1.0"

from .api import Network, load  # noqa: E402

__all__ = ["Network", "load", "__version__"]
