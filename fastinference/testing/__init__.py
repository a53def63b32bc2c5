"""Development helpers shared by ``tests/``, ``bench/`` and ``examples/`` (not a public API).

- :mod:`.nets`: binarized networks on sklearn's digits, trained with torch, exported to ONNX
- :mod:`.graphs`: a small ONNX graph builder and onnxruntime runner for hand-made models
- :mod:`.rtl_helpers`: simulator list, tool PATH set-up, cocotb build+run
- :mod:`.rtl_models`: random dense models and test vectors for the RTL tests
- :mod:`.conv_models`: numpy models and cocotb tests of the conv stream blocks
- :mod:`.hls_models`: small hand-built models and foldings for the HLS tests

They need the ``dev`` extras (torch, onnxruntime, cocotb, ...). ``import fastinference`` never
imports this package, so the compiler itself never needs them.
"""
