"""fastinference: ONNX binarized neural networks to bit-exact HLS C++ and SystemVerilog."""
__version__ = "0.1.0"
